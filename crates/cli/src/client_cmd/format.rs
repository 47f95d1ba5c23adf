//! How `runnel consume` prints a record: a template with `{key}`, `{value}`, `{headers}`,
//! `{partition}`, `{offset}`, `{timestamp}` and `{topic}` (default `{value}`), or `json`, one
//! object per line. Bytes that are not UTF-8 are shown with U+FFFD in their place; a null key
//! or value prints `null` in a template and `null` in JSON. Templates read `\n`, `\t` and `\\`
//! as escapes and `{{`, `}}` as braces, so `--format '{key}\t{value}'` works from a shell.

use bytes::Bytes;
use client::fetch::ConsumerRecord;

/// A parsed `--format`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordFormat {
    Json,
    Template(Vec<Piece>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    Text(String),
    Field(Field),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Topic,
    Key,
    Value,
    Headers,
    Partition,
    Offset,
    Timestamp,
}

impl RecordFormat {
    /// Parses `json` or a template (clap value parser: a bad template is a usage error).
    pub fn parse(text: &str) -> Result<RecordFormat, String> {
        if text == "json" {
            return Ok(RecordFormat::Json);
        }
        let mut pieces = Vec::new();
        let mut literal = String::new();
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some('n') => literal.push('\n'),
                    Some('t') => literal.push('\t'),
                    Some('\\') => literal.push('\\'),
                    Some(other) => {
                        literal.push('\\');
                        literal.push(other);
                    }
                    None => literal.push('\\'),
                },
                '{' if chars.peek() == Some(&'{') => {
                    chars.next();
                    literal.push('{');
                }
                '}' if chars.peek() == Some(&'}') => {
                    chars.next();
                    literal.push('}');
                }
                '{' => {
                    let mut name = String::new();
                    loop {
                        match chars.next() {
                            Some('}') => break,
                            Some(c) => name.push(c),
                            None => return Err(format!("unclosed {{ in {text:?}")),
                        }
                    }
                    let field = match name.as_str() {
                        "topic" => Field::Topic,
                        "key" => Field::Key,
                        "value" => Field::Value,
                        "headers" => Field::Headers,
                        "partition" => Field::Partition,
                        "offset" => Field::Offset,
                        "timestamp" => Field::Timestamp,
                        _ => {
                            return Err(format!(
                                "unknown field {{{name}}} (fields: {{key}} {{value}} {{headers}} {{partition}} {{offset}} {{timestamp}} {{topic}}; or json)"
                            ));
                        }
                    };
                    if !literal.is_empty() {
                        pieces.push(Piece::Text(std::mem::take(&mut literal)));
                    }
                    pieces.push(Piece::Field(field));
                }
                '}' => return Err(format!("unmatched }} in {text:?} (write }}}} for a brace)")),
                c => literal.push(c),
            }
        }
        if !literal.is_empty() {
            pieces.push(Piece::Text(literal));
        }
        Ok(RecordFormat::Template(pieces))
    }

    /// The record as one line, `\n` included.
    pub fn render(&self, topic: &str, record: &ConsumerRecord) -> String {
        let mut out = match self {
            RecordFormat::Json => json(topic, record),
            RecordFormat::Template(pieces) => {
                let mut out = String::new();
                for piece in pieces {
                    match piece {
                        Piece::Text(text) => out.push_str(text),
                        Piece::Field(field) => out.push_str(&field_text(*field, topic, record)),
                    }
                }
                out
            }
        };
        out.push('\n');
        out
    }
}

fn field_text(field: Field, topic: &str, record: &ConsumerRecord) -> String {
    match field {
        Field::Topic => topic.to_string(),
        Field::Key => text_or_null(record.key.as_ref()),
        Field::Value => text_or_null(record.value.as_ref()),
        Field::Headers => record
            .headers
            .iter()
            .map(|h| {
                format!(
                    "{}={}",
                    String::from_utf8_lossy(&h.key),
                    text_or_null(h.value.as_ref())
                )
            })
            .collect::<Vec<_>>()
            .join(","),
        Field::Partition => record.partition.to_string(),
        Field::Offset => record.offset.to_string(),
        Field::Timestamp => record.timestamp_ms.to_string(),
    }
}

fn text_or_null(bytes: Option<&Bytes>) -> String {
    match bytes {
        Some(bytes) => String::from_utf8_lossy(bytes).into_owned(),
        None => "null".into(),
    }
}

/// A JSON string, or `null`.
fn json_text(bytes: Option<&Bytes>) -> String {
    match bytes {
        Some(bytes) => json_string(&String::from_utf8_lossy(bytes)),
        None => "null".into(),
    }
}

fn json_string(text: &str) -> String {
    serde_json::Value::from(text).to_string()
}

/// `{"topic","partition","offset","timestamp","key","value","headers":[{"key","value"}]}`, in
/// that order; headers are a list because Kafka allows a key more than once.
fn json(topic: &str, record: &ConsumerRecord) -> String {
    let headers: Vec<String> = record
        .headers
        .iter()
        .map(|h| {
            format!(
                "{{\"key\":{},\"value\":{}}}",
                json_string(&String::from_utf8_lossy(&h.key)),
                json_text(h.value.as_ref())
            )
        })
        .collect();
    format!(
        "{{\"topic\":{},\"partition\":{},\"offset\":{},\"timestamp\":{},\"key\":{},\"value\":{},\"headers\":[{}]}}",
        json_string(topic),
        record.partition,
        record.offset,
        record.timestamp_ms,
        json_text(record.key.as_ref()),
        json_text(record.value.as_ref()),
        headers.join(",")
    )
}

#[cfg(test)]
mod tests {
    use protocol::records::{RecordHeader, TimestampType};

    use super::*;

    fn record() -> ConsumerRecord {
        ConsumerRecord {
            partition: 2,
            offset: 7,
            timestamp_ms: 1_700_000_000_000,
            timestamp_type: TimestampType::CreateTime,
            key: Some(Bytes::from_static(b"k\"1")),
            value: Some(Bytes::from_static(b"v")),
            headers: vec![
                RecordHeader {
                    key: Bytes::from_static(b"a"),
                    value: Some(Bytes::from_static(b"1")),
                },
                RecordHeader {
                    key: Bytes::from_static(b"a"),
                    value: None,
                },
            ],
        }
    }

    #[test]
    fn templates_fill_every_field() {
        let format = RecordFormat::parse(
            r"{topic}/{partition}@{offset} {timestamp}\t{key}={value} [{headers}] {{x}}",
        )
        .unwrap();
        assert_eq!(
            format.render("t", &record()),
            "t/2@7 1700000000000\tk\"1=v [a=1,a=null] {x}\n"
        );
    }

    #[test]
    fn json_is_one_object_per_line() {
        let line = RecordFormat::Json.render("t", &record());
        assert!(line.ends_with('\n') && !line.trim_end().contains('\n'));
        let value: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(value["key"], "k\"1");
        assert_eq!(value["offset"], 7);
        assert_eq!(value["headers"][1]["value"], serde_json::Value::Null);
    }

    #[test]
    fn bad_templates_are_refused() {
        assert!(RecordFormat::parse("{nope}").is_err());
        assert!(RecordFormat::parse("{value").is_err());
        assert!(RecordFormat::parse("value}").is_err());
        assert_eq!(
            RecordFormat::parse("{value}").unwrap(),
            RecordFormat::Template(vec![Piece::Field(Field::Value)])
        );
    }
}
