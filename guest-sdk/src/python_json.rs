//! JSON text as Python's `json.dumps` writes it with its defaults (`", "` and `": "`
//! separators, `ensure_ascii`), so a payload the SDK pushes reads byte for byte like the
//! one kinto-redis pushes. Numbers are written by serde_json: a float may differ from
//! Python's `repr` (`1e16` against `1e+16`); Kinto payloads carry none.

use std::io;

use serde::Serialize;
use serde_json::ser::{Formatter, Serializer};
use serde_json::Value;

/// `value` as Python's `json.dumps(value)` would write it.
pub(crate) fn to_string(value: &Value) -> String {
    let mut out = Vec::new();
    let mut serializer = Serializer::with_formatter(&mut out, PythonFormatter);
    // Writing a `Value` into a `Vec` cannot fail, and every byte written is ASCII.
    value
        .serialize(&mut serializer)
        .expect("a JSON value serializes");
    String::from_utf8(out).expect("ensure_ascii output is ASCII")
}

struct PythonFormatter;

impl Formatter for PythonFormatter {
    fn begin_array_value<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        separator(w, first)
    }

    fn begin_object_key<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        separator(w, first)
    }

    fn begin_object_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        w.write_all(b": ")
    }

    /// serde_json escapes quotes, backslashes and control characters as Python does;
    /// this adds Python's `\uXXXX` (lowercase, surrogate pairs) for every non-ASCII char.
    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        for c in fragment.chars() {
            if c.is_ascii() {
                w.write_all(&[c as u8])?;
            } else {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    write!(w, "\\u{unit:04x}")?;
                }
            }
        }
        Ok(())
    }
}

fn separator<W: ?Sized + io::Write>(w: &mut W, first: bool) -> io::Result<()> {
    if first {
        Ok(())
    } else {
        w.write_all(b", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn spaces_and_escapes_like_python() {
        let value = json!({"a": [1, "é😀", null], "b": {"c": "q\"\n\u{1}"}, "d": {}, "e": []});
        // python3 -c 'import json; print(json.dumps({"a": [1, "é😀", None],
        //   "b": {"c": "q\"\n\x01"}, "d": {}, "e": []}))'
        let python = r#"{"a": [1, "\u00e9\ud83d\ude00", null], "b": {"c": "q\"\n\u0001"}, "d": {}, "e": []}"#;
        assert_eq!(to_string(&value), python);
    }
}
