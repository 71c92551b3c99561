//! `restore --from-replica`: the versions a watched index knows were removed from the
//! bucket since T, copied back from a replica that keeps them under the same version ids.

use crate::error::CliResult;
use crate::pipeline::{App, Clients};
use s3rewind_engine::{RestorePlan, Warning};

/// `restore --from-replica`: each version the plan could not take from its own bucket
/// (a [`Warning::Unrestorable`] with a replica) is copied from the replica, by the same
/// version id, onto its key (CopyObject; conditional on the key's current version where
/// the server honours it). These copies are not in the journal (`undo` does not take them
/// back) and `apply` of a saved plan does not make them. Returns how many failed.
pub async fn copy_from_replica(app: &App, clients: &Clients, p: &RestorePlan) -> CliResult<u64> {
    let printer = &app.printer;
    let Some(dest) = p.destination_location() else {
        return Ok(0);
    };
    let mut failed = 0u64;
    for w in &p.warnings {
        let Warning::Unrestorable {
            key,
            version_id,
            from_replica: Some(replica),
            ..
        } = w
        else {
            continue;
        };
        let dest_key = format!(
            "{}{}",
            dest.prefix,
            &key[p.source.prefix.len().min(key.len())..]
        );
        let result = async {
            if clients.separate {
                return Err(
                    "the destination is reached through other options (--dest-*): copy it yourself"
                        .to_owned(),
                );
            }
            let from = clients.source_endpoint.bucket(replica);
            let head = from
                .head(key, Some(version_id))
                .await
                .map_err(|e| e.to_string())?
                .ok_or_else(|| format!("the replica has no version {version_id} of it"))?;
            let now = clients
                .dest
                .head(&dest_key, None)
                .await
                .map_err(|e| e.to_string())?;
            let req = crate::bucket::CopyRequest {
                bucket: &dest.bucket,
                if_match: now.as_ref().map(|h| h.etag.as_str()),
                if_none_match: now.is_none(),
                ..crate::bucket::CopyRequest::plain(replica, key, version_id, &dest_key, &head)
            };
            clients.dest.copy(&req).await.map_err(|e| e.to_string())
        }
        .await;
        match result {
            Ok(new) => printer.info(format!(
                "copied {key:?} version {version_id} from the replica s3://{replica} (new version {new})"
            )),
            Err(e) => {
                failed += 1;
                printer.warn(format!(
                    "{key:?}: version {version_id} was not copied from the replica s3://{replica}: {e}"
                ));
            }
        }
    }
    Ok(failed)
}
