//! Reads Kafka's JSON message specifications into a model the emitter walks.
//!
//! The specs are JSON with `//` line comments. A field's type is a primitive, an array (`[]T`) or
//! a struct, defined inline by the field's `fields` or in the message's `commonStructs`.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

/// An inclusive range of versions; `None` when empty ("none").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Versions(pub Option<(i16, i16)>);

impl Versions {
    pub const NONE: Versions = Versions(None);

    pub fn parse(text: &str) -> Result<Versions, String> {
        let text = text.trim();
        if text == "none" {
            return Ok(Versions::NONE);
        }
        let parse = |s: &str| {
            s.trim()
                .parse::<i16>()
                .map_err(|e| format!("bad version {s:?}: {e}"))
        };
        if let Some(lo) = text.strip_suffix('+') {
            return Ok(Versions(Some((parse(lo)?, i16::MAX))));
        }
        if let Some((lo, hi)) = text.split_once('-') {
            return Ok(Versions(Some((parse(lo)?, parse(hi)?))));
        }
        let v = parse(text)?;
        Ok(Versions(Some((v, v))))
    }

    pub fn intersect(self, other: Versions) -> Versions {
        match (self.0, other.0) {
            (Some((a, b)), Some((c, d))) if a.max(c) <= b.min(d) => {
                Versions(Some((a.max(c), b.min(d))))
            }
            _ => Versions::NONE,
        }
    }

    pub fn subtract_is_empty(self, other: Versions) -> bool {
        match (self.0, other.0) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some((a, b)), Some((c, d))) => c <= a && b <= d,
        }
    }

    pub fn is_empty(self) -> bool {
        self.0.is_none()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ty {
    Bool,
    Int8,
    Int16,
    Uint16,
    Int32,
    Int64,
    Float64,
    String,
    Bytes,
    Records,
    Uuid,
    Array(Box<Ty>),
    Struct(String),
}

impl Ty {
    fn parse(text: &str) -> Ty {
        if let Some(inner) = text.strip_prefix("[]") {
            return Ty::Array(Box::new(Ty::parse(inner)));
        }
        match text {
            "bool" => Ty::Bool,
            "int8" => Ty::Int8,
            "int16" => Ty::Int16,
            "uint16" => Ty::Uint16,
            "int32" => Ty::Int32,
            "int64" => Ty::Int64,
            "float64" => Ty::Float64,
            "string" => Ty::String,
            "bytes" => Ty::Bytes,
            "records" => Ty::Records,
            "uuid" => Ty::Uuid,
            other => Ty::Struct(other.to_string()),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Field {
    pub name: String,
    pub ty: Ty,
    /// Versions in which the field exists (tagged or not), within the message's valid versions.
    pub versions: Versions,
    pub nullable: Versions,
    pub tag: Option<u32>,
    pub tagged: Versions,
    /// A field-level override of the flexible versions (only the request header's client id).
    pub flexible: Option<Versions>,
    pub default: Option<String>,
}

#[derive(Debug, Clone)]
pub struct StructDef {
    pub name: String,
    pub fields: Vec<Field>,
}

#[derive(Debug, Clone)]
pub struct Spec {
    pub name: String,
    pub kind: String,
    pub api_key: Option<i16>,
    pub valid: Versions,
    pub flexible: Versions,
    pub file: String,
    /// The top-level struct first, then nested and common structs in definition order.
    pub structs: Vec<StructDef>,
}

/// Removes `//` comments outside string literals.
pub fn strip_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    let mut in_string = false;
    while let Some(c) = chars.next() {
        if in_string {
            out.push(c);
            if c == '\\' {
                if let Some(next) = chars.next() {
                    out.push(next);
                }
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
            out.push(c);
        } else if c == '/' && chars.peek() == Some(&'/') {
            for skipped in chars.by_ref() {
                if skipped == '\n' {
                    out.push('\n');
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

pub fn load(path: &Path) -> Result<Spec, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let json: Value = serde_json::from_str(&strip_comments(&text))
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let str_of = |v: &Value, key: &str| v.get(key).and_then(Value::as_str).map(str::to_string);
    let name = str_of(&json, "name").ok_or("spec without name")?;
    let kind = str_of(&json, "type").ok_or("spec without type")?;
    let valid = Versions::parse(&str_of(&json, "validVersions").ok_or("no validVersions")?)?;
    let flexible =
        Versions::parse(&str_of(&json, "flexibleVersions").unwrap_or_else(|| "none".into()))?;
    let api_key = json.get("apiKey").and_then(Value::as_i64).map(|k| k as i16);

    let mut structs: BTreeMap<String, StructDef> = BTreeMap::new();
    let mut order: Vec<String> = Vec::new();
    let mut add =
        |def: StructDef, structs: &mut BTreeMap<String, StructDef>| -> Result<(), String> {
            if structs.contains_key(&def.name) {
                return Err(format!("{name}: struct {} defined twice", def.name));
            }
            order.push(def.name.clone());
            structs.insert(def.name.clone(), def);
            Ok(())
        };
    let top_fields = json
        .get("fields")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut nested = Vec::new();
    let fields = parse_fields(&top_fields, valid, &mut nested)?;
    add(
        StructDef {
            name: name.clone(),
            fields,
        },
        &mut structs,
    )?;
    for common in json
        .get("commonStructs")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let cname = str_of(common, "name").ok_or("common struct without name")?;
        let cfields = common
            .get("fields")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let fields = parse_fields(&cfields, valid, &mut nested)?;
        add(
            StructDef {
                name: cname,
                fields,
            },
            &mut structs,
        )?;
    }
    for def in nested {
        add(def, &mut structs)?;
    }
    let structs = order.iter().map(|n| structs[n].clone()).collect();
    Ok(Spec {
        name,
        kind,
        api_key,
        valid,
        flexible,
        file: path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned(),
        structs,
    })
}

fn parse_fields(
    fields: &[Value],
    valid: Versions,
    nested: &mut Vec<StructDef>,
) -> Result<Vec<Field>, String> {
    let mut out = Vec::new();
    for f in fields {
        let get = |key: &str| f.get(key).and_then(Value::as_str);
        let name = get("name").ok_or("field without name")?.to_string();
        let ty = Ty::parse(get("type").ok_or("field without type")?);
        let tagged = match get("taggedVersions") {
            Some(t) => Versions::parse(t)?,
            None => Versions::NONE,
        };
        let versions = match get("versions") {
            Some(v) => Versions::parse(v)?,
            None => tagged,
        }
        .intersect(valid);
        let nullable = match get("nullableVersions") {
            Some(v) => Versions::parse(v)?,
            None => Versions::NONE,
        }
        .intersect(versions);
        let tag = match f.get("tag") {
            None => None,
            Some(Value::String(t)) => Some(
                t.trim()
                    .parse::<u32>()
                    .map_err(|e| format!("{name}: bad tag {t:?}: {e}"))?,
            ),
            Some(t) => Some(t.as_u64().ok_or_else(|| format!("{name}: bad tag {t}"))? as u32),
        };
        if tag.is_some() == tagged.is_empty() {
            return Err(format!(
                "{name}: a tag needs taggedVersions and the other way round"
            ));
        }
        let flexible = get("flexibleVersions").map(Versions::parse).transpose()?;
        let default = f.get("default").map(|d| match d {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        });
        if let Some(sub) = f.get("fields").and_then(Value::as_array) {
            let struct_name = match &ty {
                Ty::Struct(n) => n.clone(),
                Ty::Array(inner) => match inner.as_ref() {
                    Ty::Struct(n) => n.clone(),
                    _ => return Err(format!("{name}: fields on a non-struct array")),
                },
                _ => return Err(format!("{name}: fields on a primitive")),
            };
            let sub_fields = parse_fields(sub, valid, nested)?;
            nested.push(StructDef {
                name: struct_name,
                fields: sub_fields,
            });
        }
        out.push(Field {
            name,
            ty,
            versions,
            nullable,
            tag,
            tagged: tagged.intersect(versions),
            flexible,
            default,
        });
    }
    Ok(out)
}
