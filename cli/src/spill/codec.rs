//! The byte forms [`Record`](super::Record)s are made of: each part of a record (a text,
//! a number, a stamp, a list, a version) has one ([`Codec`]), and a record's is its
//! fields' in the order [`codec!`](crate::spill::codec) or [`record!`] names them. The
//! forms live only in a run's temporary files: nothing reads them across versions.

use super::io_error;
use crate::error::CliResult;
use chrono::{DateTime, Utc};
use std::io::Read;

/// A value with a byte form: written by `put`, read back by `get` exactly as it was.
pub trait Codec: Sized {
    /// Append the byte form to `b`.
    fn put(&self, b: &mut Vec<u8>);
    /// Read one byte form back.
    fn get(r: &mut impl Read) -> CliResult<Self>;
}

/// `N` bytes.
pub(crate) fn get_bytes<const N: usize>(r: &mut impl Read) -> CliResult<[u8; N]> {
    let mut b = [0u8; N];
    r.read_exact(&mut b).map_err(io_error)?;
    Ok(b)
}

/// A text: its length (u32), then its bytes.
impl Codec for String {
    fn put(&self, b: &mut Vec<u8>) {
        put_text(b, self);
    }

    fn get(r: &mut impl Read) -> CliResult<Self> {
        let mut s = vec![0u8; u32::from_le_bytes(get_bytes(r)?) as usize];
        r.read_exact(&mut s).map_err(io_error)?;
        String::from_utf8(s).map_err(|e| io_error(std::io::Error::other(e)))
    }
}

pub(crate) fn put_text(b: &mut Vec<u8>, s: &str) {
    b.extend_from_slice(&(s.len() as u32).to_le_bytes());
    b.extend_from_slice(s.as_bytes());
}

/// Little-endian.
impl Codec for u64 {
    fn put(&self, b: &mut Vec<u8>) {
        b.extend_from_slice(&self.to_le_bytes());
    }

    fn get(r: &mut impl Read) -> CliResult<Self> {
        Ok(u64::from_le_bytes(get_bytes(r)?))
    }
}

/// One byte, 0 or 1.
impl Codec for bool {
    fn put(&self, b: &mut Vec<u8>) {
        b.push(u8::from(*self));
    }

    fn get(r: &mut impl Read) -> CliResult<Self> {
        let [f] = get_bytes(r)?;
        Ok(f != 0)
    }
}

/// Seconds (i64), then nanoseconds (u32).
impl Codec for DateTime<Utc> {
    fn put(&self, b: &mut Vec<u8>) {
        b.extend_from_slice(&self.timestamp().to_le_bytes());
        b.extend_from_slice(&self.timestamp_subsec_nanos().to_le_bytes());
    }

    fn get(r: &mut impl Read) -> CliResult<Self> {
        let secs = i64::from_le_bytes(get_bytes(r)?);
        let nanos = u32::from_le_bytes(get_bytes(r)?);
        DateTime::<Utc>::from_timestamp(secs, nanos)
            .ok_or_else(|| io_error(std::io::Error::other("a stamp out of range")))
    }
}

/// The number of items (u32), then each.
impl<T: Codec> Codec for Vec<T> {
    fn put(&self, b: &mut Vec<u8>) {
        b.extend_from_slice(&(self.len() as u32).to_le_bytes());
        for t in self {
            t.put(b);
        }
    }

    fn get(r: &mut impl Read) -> CliResult<Self> {
        let n = u32::from_le_bytes(get_bytes(r)?);
        (0..n).map(|_| T::get(r)).collect()
    }
}

/// A flag, then the value when there is one.
impl<T: Codec> Codec for Option<T> {
    fn put(&self, b: &mut Vec<u8>) {
        self.is_some().put(b);
        if let Some(t) = self {
            t.put(b);
        }
    }

    fn get(r: &mut impl Read) -> CliResult<Self> {
        Ok(if bool::get(r)? {
            Some(T::get(r)?)
        } else {
            None
        })
    }
}

/// Each in turn.
impl<A: Codec, B: Codec> Codec for (A, B) {
    fn put(&self, b: &mut Vec<u8>) {
        self.0.put(b);
        self.1.put(b);
    }

    fn get(r: &mut impl Read) -> CliResult<Self> {
        Ok((A::get(r)?, B::get(r)?))
    }
}

/// The [`Codec`] of a struct: its fields' byte forms in the order named (every field must
/// be named: the struct is built from them).
macro_rules! codec {
    ($t:path { $($f:ident),+ $(,)? }) => {
        impl $crate::spill::Codec for $t {
            fn put(&self, b: &mut Vec<u8>) {
                $($crate::spill::Codec::put(&self.$f, b);)+
            }

            fn get(r: &mut impl std::io::Read) -> $crate::error::CliResult<Self> {
                // A struct expression evaluates its fields in the order written.
                Ok(Self { $($f: $crate::spill::Codec::get(r)?,)+ })
            }
        }
    };
}

/// A [`Record`](super::Record) (sorted by its `key` field) whose byte form is its fields',
/// as [`codec!`] writes them.
macro_rules! record {
    ($t:path { $($f:ident),+ $(,)? }) => {
        $crate::spill::codec!($t { $($f),+ });

        impl $crate::spill::Record for $t {
            fn key(&self) -> &str {
                &self.key
            }

            fn encode(&self, b: &mut Vec<u8>) {
                $crate::spill::Codec::put(self, b);
            }

            fn decode(r: &mut impl std::io::Read) -> $crate::error::CliResult<Self> {
                $crate::spill::Codec::get(r)
            }
        }
    };
}

pub(crate) use {codec, record};
