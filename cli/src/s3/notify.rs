//! `watch --setup --apply`: what `--setup` prints, created. On AWS (SQS): the queue (or
//! the one `--queue` names), its policy letting S3 send from the bucket, and the bucket's
//! notification to it. On radosgw (push): a topic on the S3 endpoint's SNS-compatible API
//! whose `push-endpoint` is the watcher, and the bucket's notification to it.
//!
//! The bucket's notification configuration is read first and written back with only the
//! watcher's own entry (id [`NOTIFICATION_ID`]) replaced: other queues, topics, Lambda
//! functions and EventBridge stay as they were.

use super::{ConnectOptions, S3, S3Error, classify};
use aws_sdk_s3::types::{
    Event, FilterRule, FilterRuleName, NotificationConfiguration, NotificationConfigurationFilter,
    QueueConfiguration, S3KeyFilter, TopicConfiguration,
};
use aws_sdk_sqs::types::QueueAttributeName;

/// The id of the watcher's entry in a bucket's notification configuration.
pub const NOTIFICATION_ID: &str = "s3rewind-watch";

/// Every event type that changes a key's history.
pub const EVENTS: [&str; 3] = [
    "s3:ObjectCreated:*",
    "s3:ObjectRemoved:*",
    "s3:LifecycleExpiration:*",
];

/// What was created.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Applied {
    /// The queue's URL (SQS).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queue_url: Option<String>,
    /// The queue's ARN (SQS).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queue_arn: Option<String>,
    /// The topic's ARN (push).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub topic_arn: Option<String>,
}

fn other(context: &str, message: impl std::fmt::Display) -> S3Error {
    S3Error::other(context.to_owned(), message.to_string())
}

fn filter(prefix: &str) -> Option<NotificationConfigurationFilter> {
    (!prefix.is_empty()).then(|| {
        NotificationConfigurationFilter::builder()
            .key(
                S3KeyFilter::builder()
                    .filter_rules(
                        FilterRule::builder()
                            .name(FilterRuleName::Prefix)
                            .value(prefix)
                            .build(),
                    )
                    .build(),
            )
            .build()
    })
}

/// The bucket's notification configuration with the watcher's entry set by `add`.
async fn put_notification(
    s3: &S3,
    bucket: &str,
    add: impl FnOnce(
        aws_sdk_s3::types::builders::NotificationConfigurationBuilder,
    ) -> aws_sdk_s3::types::builders::NotificationConfigurationBuilder,
) -> Result<(), S3Error> {
    let old = match s3
        .client
        .get_bucket_notification_configuration()
        .bucket(bucket)
        .send()
        .await
    {
        Ok(o) => Some(o),
        // moto answers a bucket without one `<GetBucketNotificationResponse/>`, a root
        // the SDK does not take: nothing to keep.
        Err(e)
            if e.raw_response().is_some_and(|r| {
                r.status().is_success()
                    && r.body().bytes().is_some_and(|b| {
                        String::from_utf8_lossy(b).contains("<GetBucketNotificationResponse")
                    })
            }) =>
        {
            None
        }
        Err(e) => {
            return Err(classify(
                format!("GetBucketNotificationConfiguration on {bucket}"),
                e,
            ));
        }
    };
    let ours = |id: Option<&str>| id == Some(NOTIFICATION_ID);
    let mut b = NotificationConfiguration::builder();
    if let Some(old) = old {
        b = b
            .set_topic_configurations(Some(
                old.topic_configurations()
                    .iter()
                    .filter(|c| !ours(c.id()))
                    .cloned()
                    .collect(),
            ))
            .set_queue_configurations(Some(
                old.queue_configurations()
                    .iter()
                    .filter(|c| !ours(c.id()))
                    .cloned()
                    .collect(),
            ))
            .set_lambda_function_configurations(Some(old.lambda_function_configurations().to_vec()))
            .set_event_bridge_configuration(old.event_bridge_configuration().cloned());
    }
    b = add(b);
    s3.client
        .put_bucket_notification_configuration()
        .bucket(bucket)
        .notification_configuration(b.build())
        .send()
        .await
        .map_err(|e| classify(format!("PutBucketNotificationConfiguration on {bucket}"), e))?;
    Ok(())
}

/// The queue policy letting S3 send from `bucket` (of `account`) to the queue `arn`.
pub fn queue_policy(arn: &str, bucket: &str, account: &str) -> serde_json::Value {
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "S3Notifications",
            "Effect": "Allow",
            "Principal": {"Service": "s3.amazonaws.com"},
            "Action": "sqs:SendMessage",
            "Resource": arn,
            "Condition": {
                "ArnLike": {"aws:SourceArn": format!("arn:aws:s3:::{bucket}")},
                "StringEquals": {"aws:SourceAccount": account}
            }
        }]
    })
}

/// A queue name for a bucket (queue names allow letters, digits, `-` and `_`).
pub fn queue_name(bucket: &str) -> String {
    let name: String = format!("s3rewind-{bucket}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    name.chars().take(80).collect()
}

/// SQS: the queue (`queue_url`, or a new one named for the bucket), its policy, and the
/// bucket's notification to it.
pub async fn apply_sqs(
    opts: &ConnectOptions,
    bucket: &str,
    prefix: &str,
    queue_url: Option<&str>,
) -> Result<Applied, S3Error> {
    let s3 = S3::connect(opts).await;
    // The queue's endpoint: the URL's origin when one is given, else the configured
    // endpoint (a local server serving S3 and SQS on one port), else AWS's.
    let sqs = match queue_url.and_then(super::queue_origin) {
        Some((origin, region)) => {
            let mut o = opts.clone();
            if region.is_some() {
                o.region = region;
            }
            super::sqs::client(&o, Some(origin)).await
        }
        None => super::sqs::client(opts, opts.endpoint_url.clone()).await,
    };
    let url = match queue_url {
        Some(u) => u.to_owned(),
        None => {
            let name = queue_name(bucket);
            sqs.create_queue()
                .queue_name(&name)
                .attributes(QueueAttributeName::MessageRetentionPeriod, "1209600")
                .attributes(QueueAttributeName::VisibilityTimeout, "120")
                .send()
                .await
                .map_err(|e| classify(format!("CreateQueue {name}"), e))?
                .queue_url()
                .ok_or_else(|| other("CreateQueue", "no QueueUrl in the reply"))?
                .to_owned()
        }
    };
    let attrs = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(|e| classify(format!("GetQueueAttributes on {url}"), e))?;
    let arn = attrs
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::QueueArn))
        .cloned()
        .ok_or_else(|| other("GetQueueAttributes", "no QueueArn in the reply"))?;
    let account = arn.split(':').nth(4).unwrap_or_default().to_owned();
    sqs.set_queue_attributes()
        .queue_url(&url)
        .attributes(
            QueueAttributeName::Policy,
            queue_policy(&arn, bucket, &account).to_string(),
        )
        .send()
        .await
        .map_err(|e| classify(format!("SetQueueAttributes on {url}"), e))?;
    let mut qc = QueueConfiguration::builder()
        .id(NOTIFICATION_ID)
        .queue_arn(&arn)
        .set_filter(filter(prefix));
    for e in EVENTS {
        qc = qc.events(Event::from(e));
    }
    let qc = qc.build().map_err(|e| other("QueueConfiguration", e))?;
    put_notification(&s3, bucket, |b| b.queue_configurations(qc)).await?;
    Ok(Applied {
        queue_url: Some(url),
        queue_arn: Some(arn),
        topic_arn: None,
    })
}

/// Push (radosgw): a topic pushing to `push` (the S3 endpoint's SNS-compatible API), and
/// the bucket's notification to it.
pub async fn apply_push(
    opts: &ConnectOptions,
    bucket: &str,
    prefix: &str,
    push: &str,
) -> Result<Applied, S3Error> {
    let s3 = S3::connect(opts).await;
    let shared = super::loader(opts).load().await;
    let sns = aws_sdk_sns::Client::new(&shared);
    let name = queue_name(bucket);
    let arn = sns
        .create_topic()
        .name(&name)
        .attributes("push-endpoint", push)
        .attributes("persistent", "false")
        .send()
        .await
        .map_err(|e| classify(format!("CreateTopic {name}"), e))?
        .topic_arn()
        .ok_or_else(|| other("CreateTopic", "no TopicArn in the reply"))?
        .to_owned();
    let mut tc = TopicConfiguration::builder()
        .id(NOTIFICATION_ID)
        .topic_arn(&arn)
        .set_filter(filter(prefix));
    // radosgw 16 knows no LifecycleExpiration events in a configuration.
    for e in &EVENTS[..2] {
        tc = tc.events(Event::from(*e));
    }
    let tc = tc.build().map_err(|e| other("TopicConfiguration", e))?;
    put_notification(&s3, bucket, |b| b.topic_configurations(tc)).await?;
    Ok(Applied {
        queue_url: None,
        queue_arn: None,
        topic_arn: Some(arn),
    })
}
