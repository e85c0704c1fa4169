//! Strict JSON for the files xnorflow reads back (model manifests, foldings, build directories):
//! `serde_json` keeps the last of two equal keys without a word, so a hand-edited or hostile file
//! could say one thing to a reader and another to a reviewer. [`from_str`] refuses duplicate keys
//! (naming the key and its JSON path) before it deserializes.

use serde::de::{self, DeserializeOwned, Deserializer, MapAccess, SeqAccess, Visitor};
use std::collections::HashSet;
use std::fmt;

/// Why a JSON text was refused.
#[derive(Debug, thiserror::Error)]
pub enum JsonError {
    /// Not JSON, or not of the expected shape (serde_json's message, with line and column).
    #[error("{0}")]
    Syntax(#[from] serde_json::Error),
    /// An object holds the same key twice.
    #[error("duplicate key \"{key}\" in {path}")]
    DuplicateKey {
        /// The repeated key.
        key: String,
        /// Where the object is (`$` is the document, `$.layers.L1` an object inside it).
        path: String,
    },
}

/// Walks a document and records the first duplicate key.
struct Walk<'a> {
    path: String,
    dup: &'a mut Option<(String, String)>,
}

impl<'de> de::DeserializeSeed<'de> for Walk<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Walk<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut i = 0usize;
        loop {
            let path = format!("{}[{i}]", self.path);
            if seq.next_element_seed(Walk { path, dup: &mut *self.dup })?.is_none() {
                return Ok(());
            }
            i += 1;
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            let path = format!("{}.{key}", self.path);
            if !seen.insert(key.clone()) && self.dup.is_none() {
                *self.dup = Some((key, self.path.clone()));
            }
            map.next_value_seed(Walk { path, dup: &mut *self.dup })?;
        }
        Ok(())
    }
}

/// The first duplicate key of `text` as `(key, path of its object)`, or a syntax error.
fn first_duplicate(text: &str) -> Result<Option<(String, String)>, serde_json::Error> {
    let mut dup = None;
    let mut d = serde_json::Deserializer::from_str(text);
    de::DeserializeSeed::deserialize(Walk { path: "$".into(), dup: &mut dup }, &mut d)?;
    d.end()?;
    Ok(dup)
}

/// Parses `text` as a `T`, refusing duplicate object keys anywhere in it.
pub fn from_str<T: DeserializeOwned>(text: &str) -> Result<T, JsonError> {
    if let Some((key, path)) = first_duplicate(text)? {
        return Err(JsonError::DuplicateKey { key, path });
    }
    Ok(serde_json::from_str(text)?)
}

/// [`from_str`] on bytes that must be UTF-8.
pub fn from_slice<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, JsonError> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        JsonError::Syntax(<serde_json::Error as de::Error>::custom(format!("not UTF-8: {e}")))
    })?;
    from_str(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicate_keys_are_named_with_their_path() {
        let e = from_str::<serde_json::Value>(r#"{"a": 1, "b": {"c": [{"x": 1, "x": 2}]}}"#)
            .expect_err("duplicate");
        assert_eq!(e.to_string(), "duplicate key \"x\" in $.b.c[0]");
        let e = from_str::<serde_json::Value>(r#"{"top": "a", "top": "b"}"#).expect_err("duplicate");
        assert_eq!(e.to_string(), "duplicate key \"top\" in $");
    }

    #[test]
    fn unique_documents_parse_as_serde_json_does() {
        let text = r#"{"a": [1, 2.5, "s", null, true, {"a": 1}], "b": {"a": 2}}"#;
        let v: serde_json::Value = from_str(text).expect("valid");
        assert_eq!(v, serde_json::from_str::<serde_json::Value>(text).expect("valid"));
        assert!(from_str::<serde_json::Value>("{\"a\": 1} x").is_err());
        assert!(from_str::<serde_json::Value>("{\"a\": ").is_err());
    }
}
