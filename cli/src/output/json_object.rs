//! A JSON document written a field at a time, an array field an element at a time: what
//! a command writes whose lists are read back from disk ([`crate::spill`]) rather than
//! held. The bytes are those `serde_json::to_writer_pretty` writes for the whole value,
//! so a document streamed this way reads (and diffs) like one serialised whole.

use serde::Serialize;
use std::io::{self, Write};

/// A JSON object being written (see the module docs). Fields come in the order they are
/// written, an object field through an object of its own ([`object`](Self::object)), an
/// array field an element at a time ([`array`](Self::array)); [`end`](Self::end) closes
/// it.
pub struct JsonObject<'w> {
    w: &'w mut dyn Write,
    fields: usize,
    buf: Vec<u8>,
    /// How deep the object is: 0 for the document, 1 for an object field of it, …
    depth: usize,
}

/// An array field being written, an element at a time (each element serialised whole).
pub struct JsonArray<'o, 'w> {
    object: &'o mut JsonObject<'w>,
    items: usize,
}

/// `v` pretty-printed into `buf`, every line after the first indented `levels` deeper
/// (JSON strings hold no line break of their own, so every `\n` is the printer's).
fn nested(buf: &mut Vec<u8>, v: &(impl Serialize + ?Sized), levels: usize) -> io::Result<()> {
    let mut one = Vec::with_capacity(256);
    serde_json::to_writer_pretty(&mut one, v).map_err(io::Error::from)?;
    for &byte in &one {
        buf.push(byte);
        if byte == b'\n' {
            indent(buf, levels);
        }
    }
    Ok(())
}

/// `levels` levels of serde_json's pretty indentation (two spaces each).
fn indent(buf: &mut Vec<u8>, levels: usize) {
    buf.extend(std::iter::repeat_n(b' ', 2 * levels));
}

impl<'w> JsonObject<'w> {
    /// Open an object on `w`.
    pub fn new(w: &'w mut dyn Write) -> io::Result<JsonObject<'w>> {
        w.write_all(b"{")?;
        Ok(JsonObject {
            w,
            fields: 0,
            buf: Vec::with_capacity(512),
            depth: 0,
        })
    }

    fn name(&mut self, name: &str) -> io::Result<()> {
        self.buf.clear();
        if self.fields > 0 {
            self.buf.push(b',');
        }
        self.fields += 1;
        self.buf.push(b'\n');
        indent(&mut self.buf, self.depth + 1);
        serde_json::to_writer(&mut self.buf, name).map_err(io::Error::from)?;
        self.buf.extend_from_slice(b": ");
        Ok(())
    }

    /// Write the field `name` with the value `v`.
    pub fn field(&mut self, name: &str, v: &(impl Serialize + ?Sized)) -> io::Result<()> {
        self.name(name)?;
        nested(&mut self.buf, v, self.depth + 1)?;
        self.w.write_all(&self.buf)
    }

    /// Open the object field `name`; its fields follow on the object returned, which
    /// must be [ended](Self::end) before this one goes on.
    pub fn object(&mut self, name: &str) -> io::Result<JsonObject<'_>> {
        self.name(name)?;
        self.buf.push(b'{');
        self.w.write_all(&self.buf)?;
        Ok(JsonObject {
            w: &mut *self.w,
            fields: 0,
            buf: Vec::with_capacity(512),
            depth: self.depth + 1,
        })
    }

    /// Open the array field `name`; its elements follow through [`JsonArray::push`].
    pub fn array(&mut self, name: &str) -> io::Result<JsonArray<'_, 'w>> {
        self.name(name)?;
        self.buf.push(b'[');
        self.w.write_all(&self.buf)?;
        Ok(JsonArray {
            object: self,
            items: 0,
        })
    }

    /// Close the object.
    pub fn end(mut self) -> io::Result<()> {
        self.buf.clear();
        if self.fields > 0 {
            self.buf.push(b'\n');
            indent(&mut self.buf, self.depth);
        }
        self.buf.push(b'}');
        self.w.write_all(&self.buf)
    }
}

impl JsonArray<'_, '_> {
    /// Write one element.
    pub fn push(&mut self, v: &(impl Serialize + ?Sized)) -> io::Result<()> {
        let depth = self.object.depth + 2;
        let buf = &mut self.object.buf;
        buf.clear();
        if self.items > 0 {
            buf.push(b',');
        }
        self.items += 1;
        buf.push(b'\n');
        indent(buf, depth);
        nested(buf, v, depth)?;
        self.object.w.write_all(buf)
    }

    /// Close the array.
    pub fn end(self) -> io::Result<()> {
        let buf = &mut self.object.buf;
        buf.clear();
        if self.items > 0 {
            buf.push(b'\n');
            indent(buf, self.object.depth + 1);
        }
        buf.push(b']');
        self.object.w.write_all(buf)
    }
}

/// The JSON object `doc` with the fields `fields` set, each serialised where a
/// `serde_json::Value` object would put it (its keys in order) without building the
/// value: a document whose large fields are read from disk as it is written. A field of
/// `doc` named in `fields` is left out; a `doc` that is no object is serialised as it is.
pub struct WithFields<'a, T> {
    /// The document.
    pub doc: &'a serde_json::Value,
    /// The fields set (any order; each name once).
    pub fields: &'a [(&'a str, T)],
}

impl<T: Serialize> Serialize for WithFields<'_, T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let serde_json::Value::Object(doc) = self.doc else {
            return self.doc.serialize(s);
        };
        let mut set: Vec<&(&str, T)> = self.fields.iter().collect();
        set.sort_by(|a, b| a.0.cmp(b.0));
        let others = doc
            .iter()
            .filter(|(k, _)| !self.fields.iter().any(|(name, _)| name == k));
        let mut map = s.serialize_map(Some(others.clone().count() + set.len()))?;
        let mut set = set.into_iter().peekable();
        for (k, v) in others {
            while let Some((name, value)) = set.next_if(|(name, _)| *name < k.as_str()) {
                map.serialize_entry(name, value)?;
            }
            map.serialize_entry(k, v)?;
        }
        for (name, value) in set {
            map.serialize_entry(name, value)?;
        }
        map.end()
    }
}

/// Serialise as a sequence of `len` items the items `each` hands to the function it is
/// given, for as long as that says go on: a list read back from disk as it is written. A
/// list that cannot be read back is an error of the serialisation.
pub fn serialize_each<S: serde::Serializer, T: Serialize>(
    s: S,
    len: usize,
    each: impl FnOnce(&mut dyn FnMut(T) -> crate::error::CliResult<bool>) -> crate::error::CliResult<()>,
) -> Result<S::Ok, S::Error> {
    use serde::ser::{Error, SerializeSeq};
    let mut seq = s.serialize_seq(Some(len))?;
    let mut failed = None;
    each(&mut |item| match seq.serialize_element(&item) {
        Ok(()) => Ok(true),
        Err(e) => {
            failed = Some(e);
            Ok(false)
        }
    })
    .map_err(|e| S::Error::custom(e.message))?;
    if let Some(e) = failed {
        return Err(e);
    }
    seq.end()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::{Value, json};

    /// Write `doc` (an object) field by field, its array fields element by element, its
    /// object fields the same way, as far down as they go.
    fn streamed(doc: &serde_json::Map<String, Value>) -> String {
        fn fields(o: &mut JsonObject<'_>, doc: &serde_json::Map<String, Value>) {
            for (name, v) in doc {
                match v {
                    Value::Array(items) => {
                        let mut a = o.array(name).unwrap();
                        for item in items {
                            a.push(item).unwrap();
                        }
                        a.end().unwrap();
                    }
                    Value::Object(inner) => {
                        let mut nested = o.object(name).unwrap();
                        fields(&mut nested, inner);
                        nested.end().unwrap();
                    }
                    other => o.field(name, other).unwrap(),
                }
            }
        }
        let mut out = Vec::new();
        let mut o = JsonObject::new(&mut out).unwrap();
        fields(&mut o, doc);
        o.end().unwrap();
        String::from_utf8(out).unwrap()
    }

    fn value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            "[a-z\n\"\\\\é ]{0,8}".prop_map(Value::String),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map("[a-z\n]{0,4}", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #![proptest_config(s3rewind_testkit::proptest_config(256))]
        /// Any object, written a field and an element at a time, is byte for byte what
        /// serde_json's pretty printer writes for it whole (strings with line breaks and
        /// quotes, empty arrays and objects, nesting included).
        #[test]
        fn a_streamed_object_is_the_whole_object_pretty_printed(
            fields in prop::collection::btree_map("[a-z\n\"]{0,6}", value(), 0..6)
        ) {
            let doc: serde_json::Map<String, Value> = fields.into_iter().collect();
            let whole = serde_json::to_string_pretty(&Value::Object(doc.clone())).unwrap();
            prop_assert_eq!(streamed(&doc), whole);
        }
    }

    proptest! {
        #![proptest_config(s3rewind_testkit::proptest_config(256))]
        /// Fields set beside an object, at any names (before, among, after, or in
        /// place of its fields), are serialised byte for byte as the object with the
        /// fields set.
        #[test]
        fn fields_beside_an_object_are_the_object_with_the_fields_set(
            fields in prop::collection::btree_map("[a-z]{0,3}", value(), 0..5),
            set in prop::collection::btree_map("[a-z]{0,3}", value(), 0..3),
        ) {
            let doc = Value::Object(fields.into_iter().collect());
            let mut whole = doc.clone();
            for (name, v) in &set {
                whole[name.as_str()] = v.clone();
            }
            // Given in reverse order: the order they are given in does not matter.
            let given: Vec<(&str, &Value)> = set.iter().rev().map(|(k, v)| (k.as_str(), v)).collect();
            let beside = WithFields { doc: &doc, fields: &given };
            prop_assert_eq!(
                serde_json::to_string_pretty(&beside).unwrap(),
                serde_json::to_string_pretty(&whole).unwrap()
            );
        }
    }

    #[test]
    fn empty_arrays_and_objects_are_written_as_serde_json_writes_them() {
        let doc = json!({"a": [], "b": {}, "c": [[], {}], "d": [1]});
        let Value::Object(doc) = doc else {
            unreachable!()
        };
        assert_eq!(
            streamed(&doc),
            serde_json::to_string_pretty(&Value::Object(doc.clone())).unwrap()
        );
        assert_eq!(
            streamed(&serde_json::Map::new()),
            "{}",
            "an object with no field"
        );
    }
}
