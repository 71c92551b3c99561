use super::*;
use chrono::TimeZone;
use proptest::prelude::*;

fn t(s: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_700_000_000 + s, 0).unwrap()
}

#[test]
fn parts_together_are_the_whole_timeline() {
    // Enough entries for several parts, with same-second ties (OrderUnknown reports)
    // and keys whose newest entry is not the latest by time.
    let mut entries = Vec::new();
    let mut s = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    };
    for k in 0..10_000u64 {
        let n = 1 + next() % 12;
        for i in 0..n {
            let dm = i > 0 && next() % 5 == 0;
            entries.push(Entry {
                key: format!("k/{:05}", (k * 7919) % 10_000),
                version: Version {
                    version_id: format!("v{k}-{i}").into(),
                    last_modified: t((next() % 30) as i64),
                    delete_marker: dm,
                    etag: if dm {
                        ETag::default()
                    } else {
                        format!("e{i}").as_str().into()
                    },
                    size: i,
                    storage_class: None,
                    owner_id: None,
                    is_latest: i == 0,
                },
            });
        }
    }
    assert!(entries.len() > 3 * PART_ENTRIES);
    let sorted = |entries: &[Entry]| {
        let mut sorter = EntrySorter::new(SortOptions {
            run_entries: 5_000,
            spill_dir: std::env::temp_dir(),
        });
        for e in entries {
            sorter.push(e.clone()).unwrap();
        }
        sorter.into_sorted().unwrap()
    };
    let whole = timeline_from_sorted(sorted(&entries)).unwrap();
    let (mut keys, mut anomalies, mut parts) = (Vec::new(), Vec::new(), 0);
    let (n, k) = parts_from_sorted(sorted(&entries), |p| {
        parts += 1;
        assert!(
            p.len() < 2 * PART_ENTRIES,
            "a part holds {} entries",
            p.len()
        );
        keys.extend(p.keys().iter().cloned());
        anomalies.extend(p.anomalies().iter().cloned());
        Ok(())
    })
    .unwrap();
    assert!(parts > 3);
    assert_eq!((n as usize, k as usize), (whole.len(), whole.keys().len()));
    assert_eq!(keys, whole.keys());
    assert!(
        whole
            .anomalies()
            .iter()
            .any(|a| matches!(a, Anomaly::OrderUnknown { .. }))
    );
    assert_eq!(anomalies, whole.anomalies());
}

proptest! {
    #![proptest_config(s3rewind_testkit::proptest_config(256))]
    /// The sort's runs give back exactly the entries written, whatever form each id,
    /// tag and name takes.
    #[test]
    fn run_entries_round_trip(
        entries in proptest::collection::vec(
            (
                "\\PC{0,12}",
                crate::compact::tests::id_text(),
                crate::compact::tests::id_text(),
                (any::<bool>(), any::<bool>(), any::<u64>(), -1_000_000_000i64..4_000_000_000, 0u32..1_000_000_000),
                proptest::option::of("(STANDARD|GLACIER|[A-Z_]{1,12})"),
                proptest::option::of("[a-f0-9]{1,64}"),
            ),
            0..20,
        ),
    ) {
        let entries: Vec<Entry> = entries
            .into_iter()
            .map(|(key, id, tag, (dm, latest, size, secs, nanos), class, owner)| Entry {
                key,
                version: Version {
                    version_id: VersionId::new(&id),
                    last_modified: DateTime::from_timestamp(secs, nanos).unwrap(),
                    delete_marker: dm,
                    etag: ETag::new(&tag),
                    size,
                    storage_class: class.as_deref().map(StorageClass::new),
                    owner_id: owner.as_deref().map(OwnerId::new),
                    is_latest: latest,
                },
            })
            .collect();
        let mut bytes = Vec::new();
        for e in &entries {
            write_run_entry(&mut bytes, e).unwrap();
        }
        let mut r = io::Cursor::new(bytes);
        let mut back = Vec::new();
        while let Some(e) = read_run_entry(&mut r).unwrap() {
            back.push(e);
        }
        prop_assert_eq!(back, entries);
    }
}

/// The timeline index (format version 1) stores entries in this layout; an index written
/// by an earlier build must still read.
#[test]
fn the_index_entry_layout_is_stable() {
    let e = Entry {
        key: "k".into(),
        version: Version {
            version_id: VersionId::new("v1"),
            last_modified: DateTime::from_timestamp(5, 7).unwrap(),
            delete_marker: false,
            etag: ETag::new("e"),
            size: 9,
            storage_class: Some(StorageClass::new("GLACIER")),
            owner_id: None,
            is_latest: true,
        },
    };
    let mut want = Vec::new();
    for part in [
        &1u32.to_le_bytes()[..],
        b"k",
        &2u32.to_le_bytes(),
        b"v1",
        &5i64.to_le_bytes(),
        &7u32.to_le_bytes(),
        &[0b110],
        &1u32.to_le_bytes(),
        b"e",
        &9u64.to_le_bytes(),
        &7u32.to_le_bytes(),
        b"GLACIER",
    ] {
        want.extend_from_slice(part);
    }
    let mut got = Vec::new();
    write_entry(&mut got, &e).unwrap();
    assert_eq!(got, want);
    assert_eq!(read_entry(&mut io::Cursor::new(got)).unwrap(), Some(e));
}
