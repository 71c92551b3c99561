//! Compact forms of the strings a listing repeats millions of times.
//!
//! A timeline holds one [`Version`](crate::Version) per listed entry; at 100M entries every
//! byte of it is 100 MB. The strings of an entry are kept in binary form where they parse
//! and exactly round-trip, and as text otherwise, so nothing a server sends is ever
//! altered:
//!
//! - [`VersionId`]: `null`; a UUID in its canonical lowercase form (moto) as 16 bytes; an
//!   id of up to 32 characters from `[A-Za-z0-9._]` (AWS, radosgw) as 6 bits per
//!   character; anything else as text.
//! - [`ETag`]: an MD5 in lowercase hex as 16 bytes; a multipart ETag (`hex-N`) as 16
//!   bytes and the part count; anything else as text.
//! - [`StorageClass`] and [`OwnerId`]: interned. A bucket has a handful of storage classes
//!   and of writers; each distinct name is stored once per process, and an entry holds a
//!   small number.
//!
//! Each type serialises as the string it stands for, compares equal exactly when the
//! strings are equal, and prints as that string.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::io::{self, Read, Write};
use std::sync::{OnceLock, RwLock};

/// The version id S3 gives objects written while versioning was off or suspended.
///
/// It is a real, addressable version id (`?versionId=null`), and unlike every other
/// version id it can be *replaced in place* by a later write.
pub const NULL_VERSION: &str = "null";

// ---------------------------------------------------------------------------------------
// Version ids

/// The 64 characters a packed version id may use; a character's index is its 6-bit code.
const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._";
/// The longest version id kept packed (32 characters in 24 bytes).
const PACKED_MAX: usize = 32;

fn code_of(c: u8) -> Option<u8> {
    match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'.' => Some(62),
        b'_' => Some(63),
        _ => None,
    }
}

#[derive(Clone, PartialEq, Eq, Hash)]
enum IdRepr {
    Null,
    Uuid([u8; 16]),
    Packed { len: u8, bits: [u8; 24] },
    Text(Box<str>),
}

/// A version id as S3 names it (see the [module docs](self) for its compact forms).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct VersionId(IdRepr);

impl VersionId {
    /// The `null` version id.
    pub const NULL: VersionId = VersionId(IdRepr::Null);

    /// The compact form of `id` (any string is accepted and kept exactly).
    pub fn new(id: &str) -> VersionId {
        if id == NULL_VERSION {
            return VersionId(IdRepr::Null);
        }
        if let Some(u) = parse_uuid(id) {
            return VersionId(IdRepr::Uuid(u));
        }
        if let Some((len, bits)) = pack(id) {
            return VersionId(IdRepr::Packed { len, bits });
        }
        VersionId(IdRepr::Text(id.into()))
    }

    /// True for the literal `null` version id.
    pub fn is_null(&self) -> bool {
        matches!(self.0, IdRepr::Null)
    }

    /// True for the empty id (a server that named no version).
    pub fn is_empty(&self) -> bool {
        matches!(&self.0, IdRepr::Text(t) if t.is_empty())
    }

    /// The id as text.
    pub fn as_str(&self) -> Cow<'_, str> {
        match &self.0 {
            IdRepr::Null => Cow::Borrowed(NULL_VERSION),
            IdRepr::Text(t) => Cow::Borrowed(t),
            IdRepr::Uuid(u) => Cow::Owned(format_uuid(u)),
            IdRepr::Packed { len, bits } => Cow::Owned(unpack(*len, bits)),
        }
    }
}

impl PartialOrd for VersionId {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for VersionId {
    /// By text, as the string form would sort.
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        if self == other {
            return std::cmp::Ordering::Equal;
        }
        self.as_str().cmp(&other.as_str())
    }
}

fn pack(id: &str) -> Option<(u8, [u8; 24])> {
    let b = id.as_bytes();
    if b.is_empty() || b.len() > PACKED_MAX {
        return None;
    }
    let mut bits = [0u8; 24];
    for (i, &c) in b.iter().enumerate() {
        let code = code_of(c)? as u32;
        // Character i occupies bits 6i..6i+6 of the little-endian bit string.
        let at = i * 6;
        let (byte, shift) = (at / 8, at % 8);
        let spread = code << shift;
        bits[byte] |= spread as u8;
        if shift > 2 {
            bits[byte + 1] |= (spread >> 8) as u8;
        }
    }
    Some((b.len() as u8, bits))
}

fn unpack(len: u8, bits: &[u8; 24]) -> String {
    (0..usize::from(len))
        .map(|i| {
            let at = i * 6;
            let (byte, shift) = (at / 8, at % 8);
            let mut v = u32::from(bits[byte]) >> shift;
            if shift > 2 {
                v |= u32::from(bits[byte + 1]) << (8 - shift);
            }
            char::from(ALPHABET[(v & 63) as usize])
        })
        .collect()
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

/// 32 lowercase hex digits as 16 bytes (uppercase is kept as text: it must round-trip).
fn parse_hex16(s: &[u8]) -> Option<[u8; 16]> {
    if s.len() != 32 {
        return None;
    }
    let mut out = [0u8; 16];
    for (i, pair) in s.chunks(2).enumerate() {
        out[i] = hex_val(pair[0])? << 4 | hex_val(pair[1])?;
    }
    Some(out)
}

fn push_hex(out: &mut String, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for b in bytes {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 15)]));
    }
}

/// A canonical lowercase UUID (`8-4-4-4-12`).
fn parse_uuid(id: &str) -> Option<[u8; 16]> {
    let b = id.as_bytes();
    if b.len() != 36 || [8, 13, 18, 23].iter().any(|&i| b[i] != b'-') {
        return None;
    }
    let hex: Vec<u8> = b.iter().copied().filter(|&c| c != b'-').collect();
    parse_hex16(&hex)
}

fn format_uuid(u: &[u8; 16]) -> String {
    let mut s = String::with_capacity(36);
    for (i, range) in [0..4, 4..6, 6..8, 8..10, 10..16].into_iter().enumerate() {
        if i > 0 {
            s.push('-');
        }
        push_hex(&mut s, &u[range]);
    }
    s
}

// ---------------------------------------------------------------------------------------
// ETags

#[derive(Clone, PartialEq, Eq, Hash, Default)]
enum TagRepr {
    #[default]
    Empty,
    Md5([u8; 16]),
    Multipart([u8; 16], u32),
    Text(Box<str>),
}

/// An entity tag with its quotes stripped (see the [module docs](self)); empty for delete
/// markers.
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct ETag(TagRepr);

impl ETag {
    /// The compact form of `etag` (quotes already stripped; any string is kept exactly).
    pub fn new(etag: &str) -> ETag {
        let b = etag.as_bytes();
        if b.is_empty() {
            return ETag(TagRepr::Empty);
        }
        if let Some(md5) = parse_hex16(b) {
            return ETag(TagRepr::Md5(md5));
        }
        if b.len() > 33
            && b[32] == b'-'
            && let Some(md5) = parse_hex16(&b[..32])
            && let Ok(parts) = etag[33..].parse::<u32>()
            && parts.to_string() == etag[33..]
        {
            return ETag(TagRepr::Multipart(md5, parts));
        }
        ETag(TagRepr::Text(etag.into()))
    }

    /// True for the empty tag (delete markers).
    pub fn is_empty(&self) -> bool {
        matches!(&self.0, TagRepr::Empty)
    }

    /// The tag as text.
    pub fn as_str(&self) -> Cow<'_, str> {
        match &self.0 {
            TagRepr::Empty => Cow::Borrowed(""),
            TagRepr::Text(t) => Cow::Borrowed(t),
            TagRepr::Md5(m) => {
                let mut s = String::with_capacity(32);
                push_hex(&mut s, m);
                Cow::Owned(s)
            }
            TagRepr::Multipart(m, parts) => {
                let mut s = String::with_capacity(40);
                push_hex(&mut s, m);
                s.push('-');
                s.push_str(&parts.to_string());
                Cow::Owned(s)
            }
        }
    }

    /// True when the tag is an MD5 of the content (a single-part upload without SSE-KMS);
    /// only then can content be checked against it.
    pub fn is_md5(&self) -> bool {
        matches!(self.0, TagRepr::Md5(_))
    }
}

// ---------------------------------------------------------------------------------------
// Interned names

struct Interner {
    names: Vec<&'static str>,
    ids: HashMap<&'static str, u32>,
}

impl Interner {
    fn seeded(names: &[&'static str]) -> RwLock<Interner> {
        RwLock::new(Interner {
            names: names.to_vec(),
            ids: names
                .iter()
                .enumerate()
                .map(|(i, n)| (*n, i as u32))
                .collect(),
        })
    }
}

/// The id of `name` in `table`, adding it (once per process) when new.
///
/// A name is leaked when first interned: the tables hold what a bucket's listing names
/// (storage classes, writers), a handful of distinct strings.
fn intern(table: &RwLock<Interner>, name: &str) -> u32 {
    {
        let t = table.read().expect("interner poisoned");
        // A scan of a few names is cheaper than hashing one (this runs once per entry
        // read).
        let known = if t.names.len() <= 16 {
            t.names.iter().position(|n| *n == name).map(|i| i as u32)
        } else {
            t.ids.get(name).copied()
        };
        if let Some(id) = known {
            return id;
        }
    }
    let mut t = table.write().expect("interner poisoned");
    if let Some(&id) = t.ids.get(name) {
        return id;
    }
    let id = u32::try_from(t.names.len()).expect("fewer than 4G distinct names");
    let leaked: &'static str = Box::leak(name.to_owned().into_boxed_str());
    t.names.push(leaked);
    t.ids.insert(leaked, id);
    id
}

fn name_of(table: &RwLock<Interner>, id: u32) -> &'static str {
    table.read().expect("interner poisoned").names[id as usize]
}

/// The storage classes S3 accepts on a write (`--storage-class`).
pub const WRITABLE_CLASSES: [&str; 9] = [
    "STANDARD",
    "REDUCED_REDUNDANCY",
    "STANDARD_IA",
    "ONEZONE_IA",
    "INTELLIGENT_TIERING",
    "GLACIER",
    "DEEP_ARCHIVE",
    "GLACIER_IR",
    "EXPRESS_ONEZONE",
];

/// Storage classes S3 documents, interned first so that their ids are stable: the
/// writable ones, and those only S3 on Outposts and Snow devices report.
const KNOWN_CLASSES: [&str; 11] = {
    let mut all = ["OUTPOSTS"; 11];
    let mut i = 0;
    while i < WRITABLE_CLASSES.len() {
        all[i] = WRITABLE_CLASSES[i];
        i += 1;
    }
    all[10] = "SNOW";
    all
};

fn classes() -> &'static RwLock<Interner> {
    static CLASSES: OnceLock<RwLock<Interner>> = OnceLock::new();
    CLASSES.get_or_init(|| Interner::seeded(&KNOWN_CLASSES))
}

fn owners() -> &'static RwLock<Interner> {
    static OWNERS: OnceLock<RwLock<Interner>> = OnceLock::new();
    OWNERS.get_or_init(|| Interner::seeded(&[]))
}

/// A storage class as S3 names it (`STANDARD`, `GLACIER`, …), interned.
///
/// Any name is accepted and kept exactly: the SDK models the list's storage class as
/// `STANDARD` only, and a server may send a class newer than this code.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct StorageClass(u32);

impl StorageClass {
    /// The class named `name`.
    pub fn new(name: &str) -> StorageClass {
        StorageClass(intern(classes(), name))
    }

    /// `STANDARD`, the class S3 reports when none is given.
    pub fn standard() -> Self {
        StorageClass(0)
    }

    /// The class name as S3 spells it.
    pub fn as_str(&self) -> &'static str {
        name_of(classes(), self.0)
    }

    /// True for classes whose versions must be restored (RestoreObject) before they
    /// can be read or copied: `GLACIER` and `DEEP_ARCHIVE`.
    ///
    /// `GLACIER_IR` is readable at once. Intelligent-Tiering's archive *tiers* do not show
    /// in a listing at all (the class says `INTELLIGENT_TIERING`); those are found with
    /// HeadObject at execution time.
    pub fn needs_restore(&self) -> bool {
        matches!(self.as_str(), "GLACIER" | "DEEP_ARCHIVE")
    }
}

impl PartialOrd for StorageClass {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for StorageClass {
    /// By name, as the text form would sort.
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

/// The canonical user id of a writer, interned.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct OwnerId(u32);

impl OwnerId {
    /// The owner named `id`.
    pub fn new(id: &str) -> OwnerId {
        OwnerId(intern(owners(), id))
    }

    /// The id as S3 gave it.
    pub fn as_str(&self) -> &'static str {
        name_of(owners(), self.0)
    }
}

impl std::ops::Deref for OwnerId {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl std::ops::Deref for StorageClass {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

// ---------------------------------------------------------------------------------------
// Binary forms for the sort's temporary runs.
//
// A run lives only while one process reads one report, so it holds each value's compact
// form as it is in memory (interned names by their number in this process's tables):
// nothing is parsed or looked up twice. Never use these for anything that outlives the
// process (the timeline index stores text).

fn write_text(w: &mut impl Write, s: &str) -> io::Result<()> {
    w.write_all(&(s.len() as u32).to_le_bytes())?;
    w.write_all(s.as_bytes())
}

fn read_text(r: &mut impl Read) -> io::Result<Box<str>> {
    let len = read_u32(r)? as usize;
    // Grown as it is read: a corrupt length fails at the end of the input, not by
    // asking for gigabytes first.
    let mut buf = Vec::with_capacity(len.min(1 << 16));
    r.take(len as u64).read_to_end(&mut buf)?;
    if buf.len() != len {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    String::from_utf8(buf)
        .map(String::into_boxed_str)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

fn read_u32(r: &mut impl Read) -> io::Result<u32> {
    let mut b = [0u8; 4];
    r.read_exact(&mut b)?;
    Ok(u32::from_le_bytes(b))
}

fn read_byte(r: &mut impl Read) -> io::Result<u8> {
    let mut b = [0u8; 1];
    r.read_exact(&mut b)?;
    Ok(b[0])
}

fn bad(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("bad {what} in a sort run"),
    )
}

impl VersionId {
    pub(crate) fn write_run(&self, w: &mut impl Write) -> io::Result<()> {
        match &self.0 {
            IdRepr::Null => w.write_all(&[0]),
            IdRepr::Uuid(u) => {
                w.write_all(&[1])?;
                w.write_all(u)
            }
            IdRepr::Packed { len, bits } => {
                w.write_all(&[2, *len])?;
                w.write_all(&bits[..(usize::from(*len) * 6).div_ceil(8)])
            }
            IdRepr::Text(t) => {
                w.write_all(&[3])?;
                write_text(w, t)
            }
        }
    }

    pub(crate) fn read_run(r: &mut impl Read) -> io::Result<VersionId> {
        Ok(VersionId(match read_byte(r)? {
            0 => IdRepr::Null,
            1 => {
                let mut u = [0u8; 16];
                r.read_exact(&mut u)?;
                IdRepr::Uuid(u)
            }
            2 => {
                let len = read_byte(r)?;
                if usize::from(len) > PACKED_MAX {
                    return Err(bad("version id"));
                }
                let mut bits = [0u8; 24];
                r.read_exact(&mut bits[..(usize::from(len) * 6).div_ceil(8)])?;
                IdRepr::Packed { len, bits }
            }
            3 => IdRepr::Text(read_text(r)?),
            _ => return Err(bad("version id")),
        }))
    }
    /// [`read_run`](Self::read_run) for a file that was not written by this process (a
    /// timeline index): only the form [`new`](Self::new) would give is accepted, so that
    /// an id read from a file compares equal to the same id read from a server.
    pub(crate) fn read_stored(r: &mut impl Read) -> io::Result<VersionId> {
        let id = VersionId::read_run(r)?;
        let canonical = match &id.0 {
            IdRepr::Null | IdRepr::Uuid(_) => true,
            IdRepr::Packed { len, bits } => {
                let used = usize::from(*len) * 6;
                let spare = used % 8;
                *len > 0
                    && (spare == 0 || bits[used / 8] >> spare == 0)
                    && (*len != 4 || unpack(*len, bits) != NULL_VERSION)
            }
            IdRepr::Text(t) => matches!(VersionId::new(t).0, IdRepr::Text(_)),
        };
        if canonical {
            Ok(id)
        } else {
            Err(bad("version id"))
        }
    }
}

impl ETag {
    pub(crate) fn write_run(&self, w: &mut impl Write) -> io::Result<()> {
        match &self.0 {
            TagRepr::Empty => w.write_all(&[0]),
            TagRepr::Md5(m) => {
                w.write_all(&[1])?;
                w.write_all(m)
            }
            TagRepr::Multipart(m, parts) => {
                w.write_all(&[2])?;
                w.write_all(m)?;
                w.write_all(&parts.to_le_bytes())
            }
            TagRepr::Text(t) => {
                w.write_all(&[3])?;
                write_text(w, t)
            }
        }
    }

    pub(crate) fn read_run(r: &mut impl Read) -> io::Result<ETag> {
        let mut md5 = [0u8; 16];
        Ok(ETag(match read_byte(r)? {
            0 => TagRepr::Empty,
            1 => {
                r.read_exact(&mut md5)?;
                TagRepr::Md5(md5)
            }
            2 => {
                r.read_exact(&mut md5)?;
                TagRepr::Multipart(md5, read_u32(r)?)
            }
            3 => TagRepr::Text(read_text(r)?),
            _ => return Err(bad("ETag")),
        }))
    }
}

impl ETag {
    /// [`read_run`](Self::read_run) for a file not written by this process: only the
    /// form [`new`](Self::new) would give is accepted.
    pub(crate) fn read_stored(r: &mut impl Read) -> io::Result<ETag> {
        let tag = ETag::read_run(r)?;
        match &tag.0 {
            TagRepr::Text(t) if !matches!(ETag::new(t).0, TagRepr::Text(_)) => Err(bad("ETag")),
            _ => Ok(tag),
        }
    }
}

/// An interned name's number, read back from a run: one this process gave out.
fn read_interned(r: &mut impl Read, table: &RwLock<Interner>, what: &str) -> io::Result<u32> {
    let id = read_u32(r)?;
    if (id as usize) < table.read().expect("interner poisoned").names.len() {
        Ok(id)
    } else {
        Err(bad(what))
    }
}

impl StorageClass {
    pub(crate) fn write_run(&self, w: &mut impl Write) -> io::Result<()> {
        w.write_all(&self.0.to_le_bytes())
    }

    pub(crate) fn read_run(r: &mut impl Read) -> io::Result<StorageClass> {
        read_interned(r, classes(), "storage class").map(StorageClass)
    }
}

impl OwnerId {
    pub(crate) fn write_run(&self, w: &mut impl Write) -> io::Result<()> {
        w.write_all(&self.0.to_le_bytes())
    }

    pub(crate) fn read_run(r: &mut impl Read) -> io::Result<OwnerId> {
        read_interned(r, owners(), "owner").map(OwnerId)
    }
}

// ---------------------------------------------------------------------------------------
// The string-like behaviour all four share.

macro_rules! string_like {
    ($t:ty) => {
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.as_str())
            }
        }
        impl fmt::Debug for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&*self.as_str(), f)
            }
        }
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.as_str())
            }
        }
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = Cow::<'de, str>::deserialize(d)?;
                Ok(<$t>::new(&s))
            }
        }
        impl From<&str> for $t {
            fn from(s: &str) -> Self {
                <$t>::new(s)
            }
        }
        impl From<String> for $t {
            fn from(s: String) -> Self {
                <$t>::new(&s)
            }
        }
        impl From<&String> for $t {
            fn from(s: &String) -> Self {
                <$t>::new(s)
            }
        }
        impl From<$t> for String {
            fn from(v: $t) -> String {
                v.as_str().into()
            }
        }
        impl From<&$t> for String {
            fn from(v: &$t) -> String {
                v.as_str().into()
            }
        }
        impl PartialEq<str> for $t {
            fn eq(&self, other: &str) -> bool {
                self.eq_str(other)
            }
        }
        impl PartialEq<&str> for $t {
            fn eq(&self, other: &&str) -> bool {
                self.eq_str(other)
            }
        }
        impl PartialEq<String> for $t {
            fn eq(&self, other: &String) -> bool {
                self.eq_str(other)
            }
        }
        impl PartialEq<$t> for str {
            fn eq(&self, other: &$t) -> bool {
                other == self
            }
        }
        impl PartialEq<$t> for &str {
            fn eq(&self, other: &$t) -> bool {
                other == *self
            }
        }
        impl PartialEq<$t> for String {
            fn eq(&self, other: &$t) -> bool {
                other == self
            }
        }
    };
}

impl VersionId {
    fn eq_str(&self, s: &str) -> bool {
        *self == VersionId::new(s)
    }
}

impl ETag {
    fn eq_str(&self, s: &str) -> bool {
        *self == ETag::new(s)
    }
}

impl StorageClass {
    fn eq_str(&self, s: &str) -> bool {
        self.as_str() == s
    }
}

impl OwnerId {
    fn eq_str(&self, s: &str) -> bool {
        self.as_str() == s
    }
}

#[cfg(feature = "arbitrary")]
impl<'a> arbitrary::Arbitrary<'a> for VersionId {
    fn arbitrary(u: &mut arbitrary::Unstructured<'a>) -> arbitrary::Result<Self> {
        Ok(VersionId::new(u.arbitrary()?))
    }
}

#[cfg(feature = "arbitrary")]
impl<'a> arbitrary::Arbitrary<'a> for ETag {
    fn arbitrary(u: &mut arbitrary::Unstructured<'a>) -> arbitrary::Result<Self> {
        Ok(ETag::new(u.arbitrary()?))
    }
}

/// Interned types draw from a few names: a fuzzer inventing a new one per input would
/// grow the process's tables without end.
#[cfg(feature = "arbitrary")]
impl<'a> arbitrary::Arbitrary<'a> for StorageClass {
    fn arbitrary(u: &mut arbitrary::Unstructured<'a>) -> arbitrary::Result<Self> {
        Ok(StorageClass::new(u.choose(&KNOWN_CLASSES)?))
    }
}

#[cfg(feature = "arbitrary")]
impl<'a> arbitrary::Arbitrary<'a> for OwnerId {
    fn arbitrary(u: &mut arbitrary::Unstructured<'a>) -> arbitrary::Result<Self> {
        Ok(OwnerId::new(u.choose(&["owner-a", "owner-b", "owner-c"])?))
    }
}

string_like!(VersionId);
string_like!(ETag);
string_like!(StorageClass);
string_like!(OwnerId);

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_known_classes_are_the_writable_ones_then_outposts_and_snow_each_once() {
        assert_eq!(KNOWN_CLASSES[..9], WRITABLE_CLASSES);
        assert_eq!(KNOWN_CLASSES[9..], ["OUTPOSTS", "SNOW"]);
        let distinct: std::collections::HashSet<_> = KNOWN_CLASSES.iter().collect();
        assert_eq!(distinct.len(), KNOWN_CLASSES.len());
    }

    #[test]
    fn only_the_compact_forms_a_server_id_would_take_are_read() {
        let read = |bytes: &[u8]| VersionId::read_stored(&mut &bytes[..]);
        // "null" packed, a packable id as text, stray bits after the last character.
        let (len, bits) = pack("null").unwrap();
        let mut null_packed = Vec::new();
        VersionId(IdRepr::Packed { len, bits })
            .write_run(&mut null_packed)
            .unwrap();
        assert!(read(&null_packed).is_err());
        let mut text = vec![3u8];
        text.extend_from_slice(&3u32.to_le_bytes());
        text.extend_from_slice(b"abc");
        assert!(read(&text).is_err());
        let mut stray = Vec::new();
        VersionId::new("a").write_run(&mut stray).unwrap();
        *stray.last_mut().unwrap() |= 0x80;
        assert!(read(&stray).is_err());
        let mut ok = Vec::new();
        VersionId::new("a b").write_run(&mut ok).unwrap();
        assert_eq!(read(&ok).unwrap(), VersionId::new("a b"));
        let mut tag = vec![3u8];
        tag.extend_from_slice(&32u32.to_le_bytes());
        tag.extend_from_slice(format!("{:032x}", 7).as_bytes());
        assert!(ETag::read_stored(&mut &tag[..]).is_err());
    }

    #[test]
    fn the_common_forms_are_compact_and_exact() {
        for (id, packed) in [
            ("null", true),
            ("3sL4kqtJlcpXroDTDmJ.rmSpXd3dIbrH", true),
            ("Rb_l2T8UHDkFEwCgJjhlgPOZC0qJ.vpD", true),
            ("a7c1b3e2-0b4e-4f8a-9d7e-2f1c3b4a5d6e", true),
            ("A7C1B3E2-0B4E-4F8A-9D7E-2F1C3B4A5D6E", false),
            (
                "3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY+MTRCxf3vjVBH40Nr8X8gdRQBpUMLUo",
                false,
            ),
            ("", false),
        ] {
            let v = VersionId::new(id);
            assert_eq!(v.as_str(), id);
            assert_eq!(!matches!(v.0, IdRepr::Text(_)), packed, "{id}");
        }
        for (tag, binary) in [
            ("d41d8cd98f00b204e9800998ecf8427e", true),
            ("d41d8cd98f00b204e9800998ecf8427e-12", true),
            ("d41d8cd98f00b204e9800998ecf8427e-012", false),
            ("D41D8CD98F00B204E9800998ECF8427E", false),
            ("W/\"x\"", false),
            ("", true),
        ] {
            let e = ETag::new(tag);
            assert_eq!(e.as_str(), tag);
            assert_eq!(!matches!(e.0, TagRepr::Text(_)), binary, "{tag}");
        }
        assert_eq!(StorageClass::new("GLACIER").as_str(), "GLACIER");
        assert!(StorageClass::new("DEEP_ARCHIVE").needs_restore());
        assert_eq!(StorageClass::new("FUTURE_CLASS").as_str(), "FUTURE_CLASS");
        assert_eq!(StorageClass::standard(), "STANDARD");
        assert_eq!(OwnerId::new("abc").as_str(), "abc");
        assert_eq!(serde_json::to_string(&ETag::new("ab")).unwrap(), "\"ab\"");
        assert!(std::mem::size_of::<VersionId>() <= 32);
        assert!(std::mem::size_of::<ETag>() <= 24);
        assert!(std::mem::size_of::<Option<StorageClass>>() <= 8);
        assert!(std::mem::size_of::<Option<OwnerId>>() <= 8);
    }

    /// Texts of every shape the compact forms distinguish (and others).
    pub(crate) fn id_text() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("null".to_owned()),
            "[A-Za-z0-9._]{0,40}",
            "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-fA-F]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
            "[0-9a-fA-F]{32}(-[0-9]{1,6})?",
            ".{0,40}",
        ]
    }

    proptest! {
        #![proptest_config(s3rewind_testkit::proptest_config(256))]
        /// Every form round-trips exactly, and two values are equal exactly when their
        /// texts are (so equality, hashing and the JSON form are the string's).
        #[test]
        fn forms_round_trip_and_compare_as_their_text(a in id_text(), b in id_text()) {
            let (va, vb) = (VersionId::new(&a), VersionId::new(&b));
            prop_assert_eq!(va.as_str(), a.as_str());
            prop_assert_eq!(va == vb, a == b);
            let (ea, eb) = (ETag::new(&a), ETag::new(&b));
            prop_assert_eq!(ea.as_str(), a.as_str());
            prop_assert_eq!(ea == eb, a == b);
            let (ca, cb) = (StorageClass::new(&a), StorageClass::new(&b));
            prop_assert_eq!(ca.as_str(), a.as_str());
            prop_assert_eq!(ca == cb, a == b);
            prop_assert_eq!(ca.cmp(&cb), a.cmp(&b));
            let json = serde_json::to_string(&va).unwrap();
            prop_assert_eq!(&json, &serde_json::to_string(&a).unwrap());
            prop_assert_eq!(serde_json::from_str::<VersionId>(&json).unwrap(), va);
        }
    }
}
