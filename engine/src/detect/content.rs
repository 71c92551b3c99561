//! Content evidence: entropy, file signatures ("magic bytes") and what a key's name,
//! Content-Type or previous version say its bytes should look like.
//!
//! Everything here works on the first bytes of a version (the CLI fetches at most
//! [`SAMPLE_BYTES`](super::SAMPLE_BYTES) with a ranged GET), so every test is a test of a
//! *prefix*: a UTF-8 sequence cut at the end is still text, and entropy thresholds depend
//! on how many bytes there are.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A file type recognised from its leading bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileType {
    /// `%PDF-`.
    Pdf,
    /// `\x89PNG\r\n\x1a\n`.
    Png,
    /// `FF D8 FF`.
    Jpeg,
    /// `GIF87a` / `GIF89a`.
    Gif,
    /// `RIFF....WEBP`.
    Webp,
    /// `PK\x03\x04` (also docx, xlsx, pptx, odt, jar, epub…).
    Zip,
    /// `1F 8B`.
    Gzip,
    /// `BZh`.
    Bzip2,
    /// `FD 37 7A 58 5A 00`.
    Xz,
    /// `28 B5 2F FD`.
    Zstd,
    /// `37 7A BC AF 27 1C`.
    SevenZip,
    /// `Rar!\x1a\x07`.
    Rar,
    /// `\x7fELF`.
    Elf,
    /// `MZ` with a `PE\0\0` header where the DOS header points.
    Pe,
    /// `SQLite format 3\0`.
    Sqlite,
    /// `PAR1`.
    Parquet,
    /// Text whose first non-blank character is `{` or `[`.
    Json,
    /// Text starting with `<!DOCTYPE html` or `<html`.
    Html,
    /// Text starting with `<?xml` or `<svg`.
    Xml,
    /// Other text: UTF-8 (or UTF-16 with a byte-order mark) without control characters.
    Text,
}

impl FileType {
    /// True for the textual types (JSON, HTML, XML, text); they are interchangeable when
    /// comparing a version with what it should be (a `.json` file holding JSON Lines, an
    /// `.svg` starting with a comment).
    pub fn is_text(self) -> bool {
        matches!(
            self,
            FileType::Json | FileType::Html | FileType::Xml | FileType::Text
        )
    }

    /// True when `other` is an acceptable content for something expected to be `self`.
    ///
    /// The textual types stand in for each other where real files do (a `.txt` or
    /// `.csv` may start with `[` or `<?xml`, a `.json` file may be JSON Lines after a
    /// comment, an `.html` file may be a fragment), except that an HTML document where
    /// text or JSON is expected, and JSON where markup is expected, are wrong: that is
    /// what error pages and misrouted API answers look like.
    pub fn compatible(self, other: FileType) -> bool {
        use FileType::{Html, Json, Text, Xml};
        self == other
            || matches!(
                (self, other),
                (Text, Json | Xml) | (Json, Text) | (Html, Text | Xml) | (Xml, Text | Html)
            )
    }

    /// True for formats whose first kilobytes are structured (objects, headers, tables)
    /// rather than compressed: such a head is never near-random, so a random one behind
    /// an intact signature means the rest was encrypted. PDF, ELF, PE and SQLite; the
    /// compressed formats (ZIP, PNG, JPEG, gzip, …) do look random after their header.
    pub fn structured_head(self) -> bool {
        matches!(
            self,
            FileType::Pdf | FileType::Elf | FileType::Pe | FileType::Sqlite
        )
    }

    /// The type's name as used in reports (`pdf`, `png`, `text`, …).
    pub fn name(self) -> &'static str {
        match self {
            FileType::Pdf => "pdf",
            FileType::Png => "png",
            FileType::Jpeg => "jpeg",
            FileType::Gif => "gif",
            FileType::Webp => "webp",
            FileType::Zip => "zip",
            FileType::Gzip => "gzip",
            FileType::Bzip2 => "bzip2",
            FileType::Xz => "xz",
            FileType::Zstd => "zstd",
            FileType::SevenZip => "7z",
            FileType::Rar => "rar",
            FileType::Elf => "elf",
            FileType::Pe => "pe",
            FileType::Sqlite => "sqlite",
            FileType::Parquet => "parquet",
            FileType::Json => "json",
            FileType::Html => "html",
            FileType::Xml => "xml",
            FileType::Text => "text",
        }
    }
}

impl fmt::Display for FileType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Shannon entropy of `bytes` in bits per byte (0 for an empty slice, at most 8).
pub fn entropy(bytes: &[u8]) -> f64 {
    if bytes.is_empty() {
        return 0.0;
    }
    let mut counts = [0u32; 256];
    for &b in bytes {
        counts[usize::from(b)] += 1;
    }
    let n = bytes.len() as f64;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = f64::from(c) / n;
            -p * p.log2()
        })
        .sum()
}

/// Fewest bytes for which [`near_random`] can say yes: below this, even uniformly random
/// bytes do not reach an entropy that text or headers cannot.
pub const MIN_RANDOM_SAMPLE: usize = 128;

/// The entropy uniformly random bytes are expected to reach in a sample of `n` bytes.
///
/// A sample of `n` bytes cannot show all 256 values equally often, so its measured
/// entropy is biased low (7.95 bits for 4096 bytes, 7.18 for 256). This is the exact
/// expectation: with `X ~ Binomial(n, 1/256)` the count of one byte value,
/// `E[H] = −256 · E[(X/n) log2(X/n)]`.
pub fn random_entropy(n: usize) -> f64 {
    if n == 0 {
        return 0.0;
    }
    let nf = n as f64;
    let p: f64 = 1.0 / 256.0;
    let ratio = p / (1.0 - p);
    let mut pmf = (1.0 - p).powf(nf); // P(X = 0)
    let mut sum = 0.0;
    for x in 0..n {
        // P(X = x + 1) from P(X = x).
        pmf *= (nf - x as f64) / (x as f64 + 1.0) * ratio;
        let share = (x as f64 + 1.0) / nf;
        sum += pmf * share * share.log2();
        if x as f64 > nf * p + 64.0 && pmf < 1e-18 {
            break; // the remaining terms are negligible
        }
    }
    -256.0 * sum
}

/// How far below [`random_entropy`] a sample may fall and still count as random: about
/// 4.5 standard deviations of a random sample's entropy at every length (0.31 bits at
/// 128 bytes, 0.23 at 256, 0.155 at 4096).
fn random_slack(n: usize) -> f64 {
    0.15 + 20.0 / n.max(1) as f64
}

/// True when `bytes` look like uniformly random data (ciphertext, or compressed data
/// without a recognisable header): at least [`MIN_RANDOM_SAMPLE`] bytes whose entropy is
/// within `0.15 + 20/n` bits per byte of what random bytes of that length reach.
pub fn near_random(bytes: &[u8]) -> bool {
    bytes.len() >= MIN_RANDOM_SAMPLE
        && entropy(bytes) >= random_entropy(bytes.len()) - random_slack(bytes.len())
}

/// The file type the leading bytes show, if any.
///
/// Binary signatures are checked first; then text: valid UTF-8 (a sequence cut by the end
/// of the sample is allowed), no NUL, and at most 1% other control characters.
pub fn sniff(bytes: &[u8]) -> Option<FileType> {
    let starts = |m: &[u8]| bytes.starts_with(m);
    if bytes.is_empty() {
        return None;
    }
    if starts(b"%PDF-") {
        return Some(FileType::Pdf);
    }
    if starts(b"\x89PNG\r\n\x1a\n") {
        return Some(FileType::Png);
    }
    if starts(&[0xFF, 0xD8, 0xFF]) {
        return Some(FileType::Jpeg);
    }
    if starts(b"GIF87a") || starts(b"GIF89a") {
        return Some(FileType::Gif);
    }
    if starts(b"RIFF") && bytes.get(8..12) == Some(b"WEBP") {
        return Some(FileType::Webp);
    }
    if starts(b"PK\x03\x04") || starts(b"PK\x05\x06") || starts(b"PK\x07\x08") {
        return Some(FileType::Zip);
    }
    if starts(&[0x1F, 0x8B]) {
        return Some(FileType::Gzip);
    }
    if starts(b"BZh") && bytes.get(3).is_some_and(|b| (b'1'..=b'9').contains(b)) {
        return Some(FileType::Bzip2);
    }
    if starts(&[0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00]) {
        return Some(FileType::Xz);
    }
    if starts(&[0x28, 0xB5, 0x2F, 0xFD]) {
        return Some(FileType::Zstd);
    }
    if starts(&[0x37, 0x7A, 0xBC, 0xAF, 0x27, 0x1C]) {
        return Some(FileType::SevenZip);
    }
    if starts(b"Rar!\x1a\x07") {
        return Some(FileType::Rar);
    }
    if starts(b"\x7fELF") {
        return Some(FileType::Elf);
    }
    if starts(b"MZ") && is_pe(bytes) {
        return Some(FileType::Pe);
    }
    if starts(b"SQLite format 3\0") {
        return Some(FileType::Sqlite);
    }
    if starts(b"PAR1") {
        return Some(FileType::Parquet);
    }
    sniff_text(bytes)
}

/// A DOS header whose `e_lfanew` (at 0x3C) points at `PE\0\0` inside the sample.
fn is_pe(bytes: &[u8]) -> bool {
    let Some(off) = bytes.get(0x3C..0x40) else {
        return false;
    };
    let off = u32::from_le_bytes([off[0], off[1], off[2], off[3]]) as usize;
    off.checked_add(4)
        .and_then(|end| bytes.get(off..end))
        .is_some_and(|sig| sig == b"PE\0\0")
}

fn sniff_text(bytes: &[u8]) -> Option<FileType> {
    if bytes.starts_with(&[0xFF, 0xFE]) || bytes.starts_with(&[0xFE, 0xFF]) {
        return Some(FileType::Text); // UTF-16 with a byte-order mark
    }
    let body = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let text = match std::str::from_utf8(body) {
        Ok(s) => s,
        // A multi-byte sequence cut by the end of the sample is still text.
        Err(e) if e.error_len().is_none() => {
            std::str::from_utf8(&body[..e.valid_up_to()]).unwrap_or_default()
        }
        Err(_) => return None,
    };
    if text.is_empty() {
        return None;
    }
    let mut control = 0usize;
    for b in text.bytes() {
        match b {
            0 => return None,
            b'\t' | b'\n' | b'\r' | 0x0C | 0x1B => {}
            0x01..=0x1F | 0x7F => control += 1,
            _ => {}
        }
    }
    if control * 100 > text.len() {
        return None;
    }
    let trimmed = text.trim_start();
    let lower: String = trimmed
        .chars()
        .take(16)
        .flat_map(char::to_lowercase)
        .collect();
    Some(if trimmed.starts_with('{') || trimmed.starts_with('[') {
        FileType::Json
    } else if lower.starts_with("<!doctype html") || lower.starts_with("<html") {
        FileType::Html
    } else if lower.starts_with("<?xml") || lower.starts_with("<svg") {
        FileType::Xml
    } else {
        FileType::Text
    })
}

/// The lower-cased extension of a key's last path segment (`a/b/Report.PDF` → `pdf`).
pub fn extension(key: &str) -> Option<String> {
    let name = key.rsplit('/').next().unwrap_or(key);
    let (stem, ext) = name.rsplit_once('.')?;
    (!stem.is_empty() && !ext.is_empty() && ext.len() <= 10).then(|| ext.to_ascii_lowercase())
}

/// The type a key's extension promises, for the extensions whose content is
/// recognisable (`None` for unknown extensions and for formats without a signature).
pub fn type_for_extension(ext: &str) -> Option<FileType> {
    Some(match ext {
        "pdf" => FileType::Pdf,
        "png" => FileType::Png,
        "jpg" | "jpeg" | "jpe" | "jfif" => FileType::Jpeg,
        "gif" => FileType::Gif,
        "webp" => FileType::Webp,
        "zip" | "docx" | "xlsx" | "pptx" | "docm" | "xlsm" | "odt" | "ods" | "odp" | "jar"
        | "epub" | "apk" | "xpi" | "whl" => FileType::Zip,
        "gz" | "tgz" => FileType::Gzip,
        "bz2" | "tbz2" => FileType::Bzip2,
        "xz" | "txz" => FileType::Xz,
        "zst" => FileType::Zstd,
        "7z" => FileType::SevenZip,
        "rar" => FileType::Rar,
        "exe" | "dll" => FileType::Pe,
        "sqlite" | "sqlite3" => FileType::Sqlite,
        "parquet" => FileType::Parquet,
        "json" | "geojson" | "jsonl" | "ndjson" => FileType::Json,
        "html" | "htm" | "xhtml" => FileType::Html,
        "xml" | "svg" | "rss" | "atom" => FileType::Xml,
        "txt" | "csv" | "tsv" | "log" | "md" | "markdown" | "rst" | "yaml" | "yml" | "toml"
        | "ini" | "cfg" | "conf" | "js" | "mjs" | "cjs" | "ts" | "css" | "scss" | "py" | "rb"
        | "rs" | "go" | "java" | "c" | "h" | "cpp" | "hpp" | "sh" | "sql" | "tex" | "srt"
        | "vtt" => FileType::Text,
        _ => return None,
    })
}

/// The type a Content-Type promises (parameters after `;` ignored); `None` for
/// `application/octet-stream` and anything unknown.
pub fn type_for_content_type(content_type: &str) -> Option<FileType> {
    let mime = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    Some(match mime.as_str() {
        "application/pdf" => FileType::Pdf,
        "image/png" => FileType::Png,
        "image/jpeg" | "image/jpg" | "image/pjpeg" => FileType::Jpeg,
        "image/gif" => FileType::Gif,
        "image/webp" => FileType::Webp,
        "application/zip"
        | "application/x-zip-compressed"
        | "application/epub+zip"
        | "application/java-archive" => FileType::Zip,
        m if m.starts_with("application/vnd.openxmlformats-officedocument.")
            || m.starts_with("application/vnd.oasis.opendocument.") =>
        {
            FileType::Zip
        }
        "application/gzip" | "application/x-gzip" => FileType::Gzip,
        "application/x-bzip2" => FileType::Bzip2,
        "application/x-xz" => FileType::Xz,
        "application/zstd" => FileType::Zstd,
        "application/x-7z-compressed" => FileType::SevenZip,
        "application/vnd.rar" | "application/x-rar-compressed" => FileType::Rar,
        "application/json" | "application/ld+json" | "application/x-ndjson" => FileType::Json,
        "text/html" | "application/xhtml+xml" => FileType::Html,
        "application/xml" | "text/xml" | "image/svg+xml" => FileType::Xml,
        "application/javascript" | "application/x-yaml" | "application/toml" => FileType::Text,
        m if m.starts_with("text/") => FileType::Text,
        _ => return None,
    })
}

/// Fewest bytes content analysis judges; shorter samples are [`Verdict::Unknown`] (unless
/// the validator spoke).
pub(crate) const MIN_JUDGED: usize = 16;

/// What content analysis concluded about one version.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Verdict {
    /// The bytes are what they should be.
    Good,
    /// Random-looking bytes where the name, type or previous version says otherwise.
    Encrypted(String),
    /// Bytes of another type than expected.
    WrongType(String),
    /// The user's validator rejected the version.
    Invalid,
    /// Nothing to compare with.
    Unknown,
}

impl Verdict {
    /// True for the verdicts that are evidence of damage.
    pub(crate) fn is_bad(&self) -> bool {
        matches!(
            self,
            Verdict::Encrypted(_) | Verdict::WrongType(_) | Verdict::Invalid
        )
    }
}

/// What is known of a version's bytes: its sample head and declared Content-Type.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Bytes<'a> {
    pub head: &'a [u8],
    pub content_type: Option<&'a str>,
    pub validator_ok: Option<bool>,
}

/// Judge a version of `key` against what it should be.
///
/// `reference` is the key's previous version (or, for a renamed copy, the original's
/// last version) when it was sampled. The expectation comes, in this order, from the
/// key's extension, the reference's Content-Type, the reference's own sniffed type, and
/// the version's declared Content-Type.
pub(crate) fn judge(key: &str, new: Bytes<'_>, reference: Option<Bytes<'_>>) -> Verdict {
    let new_type = sniff(new.head);
    let new_random = near_random(new.head);
    let ext = extension(key);
    let ref_type = reference.and_then(|r| sniff(r.head));
    let ref_random = reference.map(|r| near_random(r.head));
    let (expected, why) = if let Some(t) = ext.as_deref().and_then(type_for_extension) {
        (
            Some(t),
            format!("the .{} extension", ext.as_deref().unwrap_or("")),
        )
    } else if let Some(t) = reference
        .and_then(|r| r.content_type)
        .and_then(type_for_content_type)
    {
        (Some(t), "the previous Content-Type".to_owned())
    } else if let Some(t) = ref_type {
        (Some(t), "the previous version".to_owned())
    } else if let Some(t) = new.content_type.and_then(type_for_content_type) {
        (Some(t), "its Content-Type".to_owned())
    } else {
        (None, String::new())
    };
    let verdict = if new.head.len() < MIN_JUDGED {
        // A few bytes cannot show a type (a cut-off signature is no evidence); empty or
        // tiny objects are the truncation signal's business (from sizes).
        Verdict::Unknown
    } else if new_random && new_type.is_none() {
        let h = entropy(new.head);
        if let Some(t) = expected {
            Verdict::Encrypted(format!(
                "{h:.2} bits/byte with no file signature where {why} says {t}"
            ))
        } else if let Some(rt) = ref_type {
            Verdict::Encrypted(format!(
                "{h:.2} bits/byte with no file signature; the previous version was {rt}"
            ))
        } else if ref_random == Some(false) {
            Verdict::Encrypted(format!(
                "{h:.2} bits/byte; the previous version was not random"
            ))
        } else {
            Verdict::Unknown
        }
    } else if new_random && new_type.is_some_and(FileType::structured_head) {
        // Encryption that leaves the first bytes (the signature) alone.
        Verdict::Encrypted(format!(
            "{:.2} bits/byte behind an intact {} signature",
            entropy(new.head),
            new_type.map_or("", FileType::name)
        ))
    } else {
        match (expected, new_type) {
            (Some(t), Some(n)) if t.compatible(n) => Verdict::Good,
            (Some(t), Some(n)) => {
                Verdict::WrongType(format!("{why} says {t} but the bytes are {n}"))
            }
            (Some(t), None) => Verdict::WrongType(format!(
                "{why} says {t} but the bytes have no {t} signature"
            )),
            (None, _) => Verdict::Unknown,
        }
    };
    match (verdict, new.validator_ok) {
        (Verdict::Unknown | Verdict::Good, Some(false)) => Verdict::Invalid,
        (Verdict::Unknown, Some(true)) => Verdict::Good,
        (v, _) => v,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ciphertext-like bytes.
    fn random_bytes(n: usize, seed: u64) -> Vec<u8> {
        let mut out = Vec::with_capacity(n);
        crate::prng::Prng(seed).fill(&mut out, n);
        out
    }

    #[test]
    fn entropy_of_known_distributions() {
        assert_eq!(entropy(b""), 0.0);
        assert_eq!(entropy(&[7u8; 1000]), 0.0);
        assert!((entropy(b"abababab") - 1.0).abs() < 1e-12);
        let all: Vec<u8> = (0..=255u8).collect();
        assert!((entropy(&all) - 8.0).abs() < 1e-12);
        let four: Vec<u8> = (0..1024).map(|i| (i % 4) as u8).collect();
        assert!((entropy(&four) - 2.0).abs() < 1e-12);
    }

    #[test]
    fn random_entropy_matches_the_exact_expectation() {
        // Reference values of E[H] for uniform bytes (checked by simulation).
        for (n, expected) in [(128, 6.5501), (256, 7.175), (1024, 7.8088), (4096, 7.9546)] {
            assert!((random_entropy(n) - expected).abs() < 1e-3, "n={n}");
        }
        assert_eq!(random_entropy(0), 0.0);
        assert!((random_entropy(1)).abs() < 1e-12);
    }

    #[test]
    fn random_bytes_are_near_random_at_every_sample_length() {
        for n in [128, 200, 256, 512, 1000, 4096] {
            for seed in 0..200 {
                let r = random_bytes(n, seed);
                assert!(near_random(&r), "n={n} seed={seed} h={}", entropy(&r));
            }
        }
        assert!(!near_random(&random_bytes(100, 1)), "too short to tell");
    }

    #[test]
    fn text_and_headers_are_not_near_random() {
        let text = "The quick brown fox jumps over the lazy dog. 0123456789\n".repeat(80);
        assert!(!near_random(text.as_bytes()));
        let csv: String = (0..300)
            .map(|i| format!("{i},{},{:.3}\n", i * 7 % 13, f64::from(i) / 7.0))
            .collect();
        assert!(!near_random(csv.as_bytes()));
        // Half structured, half random: well below the random floor.
        let mut half = vec![0u8; 2048];
        half.extend(random_bytes(2048, 9));
        assert!(!near_random(&half));
    }

    #[test]
    fn sniff_binary_signatures() {
        let cases: &[(&[u8], FileType)] = &[
            (b"%PDF-1.7\n%\xe2\xe3", FileType::Pdf),
            (b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR", FileType::Png),
            (b"\xff\xd8\xff\xe0\0\x10JFIF", FileType::Jpeg),
            (b"GIF89a\x01\0", FileType::Gif),
            (b"RIFF\x10\0\0\0WEBPVP8 ", FileType::Webp),
            (b"PK\x03\x04\x14\0\x06\0", FileType::Zip),
            (b"\x1f\x8b\x08\0", FileType::Gzip),
            (b"BZh91AY&SY", FileType::Bzip2),
            (b"\xfd7zXZ\0\0", FileType::Xz),
            (b"\x28\xb5\x2f\xfd\x04", FileType::Zstd),
            (b"7z\xbc\xaf\x27\x1c\0\x04", FileType::SevenZip),
            (b"Rar!\x1a\x07\x01\0", FileType::Rar),
            (b"\x7fELF\x02\x01\x01", FileType::Elf),
            (b"SQLite format 3\0\x10\0", FileType::Sqlite),
            (b"PAR1\x15\x04", FileType::Parquet),
        ];
        for (bytes, t) in cases {
            assert_eq!(sniff(bytes), Some(*t), "{bytes:?}");
        }
        let mut pe = vec![0u8; 0x100];
        pe[..2].copy_from_slice(b"MZ");
        pe[0x3C..0x40].copy_from_slice(&0x80u32.to_le_bytes());
        pe[0x80..0x84].copy_from_slice(b"PE\0\0");
        assert_eq!(sniff(&pe), Some(FileType::Pe));
        // "MZ" alone is text, not an executable.
        assert_eq!(sniff(b"MZA,1,2\n"), Some(FileType::Text));
    }

    #[test]
    fn sniff_text_kinds() {
        assert_eq!(sniff(b"  {\"a\": 1}"), Some(FileType::Json));
        assert_eq!(sniff(b"[1,2,3]"), Some(FileType::Json));
        assert_eq!(sniff(b"<!DOCTYPE html><html>"), Some(FileType::Html));
        assert_eq!(sniff(b"<html lang=en>"), Some(FileType::Html));
        assert_eq!(sniff(b"<?xml version=\"1.0\"?>"), Some(FileType::Xml));
        assert_eq!(sniff(b"<svg xmlns="), Some(FileType::Xml));
        assert_eq!(sniff(b"id,name\n1,x\n"), Some(FileType::Text));
        assert_eq!(sniff(b"\xef\xbb\xbfhello"), Some(FileType::Text));
        assert_eq!(sniff(b"\xff\xfeh\0i\0"), Some(FileType::Text));
        // A UTF-8 sequence cut by the end of the sample.
        assert_eq!(
            sniff("caf\u{e9}".as_bytes()[..4].as_ref()),
            Some(FileType::Text)
        );
        // Binary junk, NULs, invalid UTF-8 and empty input are not text.
        assert_eq!(sniff(b""), None);
        assert_eq!(sniff(b"abc\0def"), None);
        assert_eq!(sniff(b"\xc3\x28 invalid"), None);
        assert_eq!(sniff(&random_bytes(4096, 3)), None);
        assert_eq!(sniff(&[1u8, 2, 3, 4, 5, 6, 7, 8]), None);
    }

    #[test]
    fn extension_and_type_maps() {
        assert_eq!(extension("a/b/Report.PDF").as_deref(), Some("pdf"));
        assert_eq!(extension("x.docx.locked").as_deref(), Some("locked"));
        assert_eq!(extension("dir.d/README"), None);
        assert_eq!(extension(".bashrc"), None);
        assert_eq!(type_for_extension("docx"), Some(FileType::Zip));
        assert_eq!(type_for_extension("locked"), None);
        assert_eq!(
            type_for_content_type("application/json; charset=utf-8"),
            Some(FileType::Json)
        );
        assert_eq!(
            type_for_content_type(
                "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
            ),
            Some(FileType::Zip)
        );
        assert_eq!(type_for_content_type("application/octet-stream"), None);
        assert!(FileType::Json.compatible(FileType::Text));
        assert!(FileType::Text.compatible(FileType::Json));
        assert!(FileType::Xml.compatible(FileType::Html));
        assert!(!FileType::Text.compatible(FileType::Html));
        assert!(!FileType::Json.compatible(FileType::Html));
        assert!(!FileType::Html.compatible(FileType::Json));
        assert!(!FileType::Pdf.compatible(FileType::Text));
    }

    fn b(head: &[u8]) -> Bytes<'_> {
        Bytes {
            head,
            content_type: None,
            validator_ok: None,
        }
    }

    #[test]
    fn judge_finds_encryption_wrong_types_and_accepts_healthy_changes() {
        let cipher = random_bytes(4096, 5);
        let mut pdf = b"%PDF-1.7\n".to_vec();
        pdf.extend(b"1 0 obj << /Type /Catalog >> endobj\n".repeat(50));
        let text = b"hello world, a plain text file\n".repeat(50);
        assert!(matches!(
            judge("a/x.pdf", b(&cipher), Some(b(&pdf))),
            Verdict::Encrypted(_)
        ));
        // The signature kept, the rest encrypted.
        let mut kept = b"%PDF-1.7\n".to_vec();
        kept.extend(&cipher[..4000]);
        assert!(matches!(
            judge("a/x.pdf", b(&kept), Some(b(&pdf))),
            Verdict::Encrypted(_)
        ));
        // A compressed format looks random after its header: no verdict from entropy.
        let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
        png.extend(&cipher[..4000]);
        assert_eq!(judge("a/x.png", b(&png), Some(b(&png))), Verdict::Good);
        // Unknown extension: the previous version decides.
        assert!(matches!(
            judge("a/x.docx.locked", b(&cipher), Some(b(b"PK\x03\x04rest"))),
            Verdict::Encrypted(_)
        ));
        assert!(matches!(
            judge("a/blob", b(&cipher), Some(b(&text))),
            Verdict::Encrypted(_)
        ));
        // Random replacing random with no type to go by: nothing to say.
        assert_eq!(
            judge("a/blob.bin", b(&cipher), Some(b(&random_bytes(4096, 6)))),
            Verdict::Unknown
        );
        assert!(matches!(
            judge(
                "a/x.pdf",
                b(b"<html><body>502 Bad Gateway</body></html>"),
                None
            ),
            Verdict::WrongType(_)
        ));
        let junk: Vec<u8> = (0..64u8).map(|i| i % 5).collect();
        assert!(matches!(
            judge("a/x.csv", b(&junk), None),
            Verdict::WrongType(_)
        ));
        assert_eq!(judge("a/x.pdf", b(&pdf), Some(b(&pdf))), Verdict::Good);
        assert_eq!(
            judge(
                "logs/a.log.gz",
                b(b"\x1f\x8b\x08\0\0\0\0\0\0\x03deflate-data"),
                None
            ),
            Verdict::Good
        );
        assert_eq!(
            judge("a/x.json", b(b"{\"a\": 1, \"b\": [2, 3]}"), None),
            Verdict::Good
        );
        // A truncated file is not judged by its few remaining bytes.
        assert_eq!(judge("a/x.docx", b(b"PK\x03"), None), Verdict::Unknown);
        // The validator has the last word when content analysis has none.
        let rejected = Bytes {
            validator_ok: Some(false),
            ..b(&pdf)
        };
        assert_eq!(judge("a/x.pdf", rejected, None), Verdict::Invalid);
        let accepted = Bytes {
            validator_ok: Some(true),
            ..b(&cipher)
        };
        assert_eq!(judge("a/blob.bin", accepted, None), Verdict::Good);
    }
}
