//! Joins the current specs (Kafka 4.4) with the versions Kafka 4.0 dropped (KIP-896) that Runnel
//! still decodes and encodes for older clients.
//!
//! Kafka 4.0 removed the oldest versions of many APIs from its specs (Produce 0-2, Fetch 0-3,
//! ListOffsets 0, OffsetCommit 0-1, ...) without changing the layout of the versions it kept. The
//! older snapshot (`../shared/kafka-message-specs`, the 4.0 line) still describes them. A merged
//! message takes the current spec and lowers its valid range to the older spec's floor: each field
//! present in both keeps the older spec's versions below the current floor and the current spec's
//! above; a field only the older spec has (e.g. ListOffsets v0's `MaxNumOffsets`) is kept, below
//! the floor only, at its old position. The merge refuses what would need a non-contiguous
//! version range, so a layout change below the floor cannot slip through unnoticed.
//!
//! Not restored: the share-group APIs' v0 (KIP-932's early-access version, dropped when share
//! groups became stable, not a KIP-896 baseline) and messages the current specs no longer define
//! (`validVersions: none`: LeaderAndIsr, UpdateMetadata, StopReplica, ControlledShutdown).

use crate::spec::{Field, Spec, StructDef, Versions};

/// The merged spec, or `None` when the current specs no longer define the message.
pub fn merge(current: Spec, older: Option<&Spec>) -> Result<Option<Spec>, String> {
    let Some((floor, max)) = current.valid.0 else {
        return Ok(None);
    };
    let Some(older) = older else {
        return Ok(Some(current));
    };
    let Some((older_floor, _)) = older.valid.0 else {
        return Ok(Some(current));
    };
    if older_floor >= floor || is_early_access(&current.name) {
        return Ok(Some(current));
    }
    if current.flexible != older.flexible {
        return Err(format!(
            "{}: flexible versions changed between the spec snapshots",
            current.name
        ));
    }
    let below = Versions(Some((older_floor, floor - 1)));
    let mut structs = Vec::with_capacity(current.structs.len());
    for def in &current.structs {
        let old = older.structs.iter().find(|o| o.name == def.name);
        structs.push(merge_struct(&current.name, def, old, below)?);
    }
    // Structs only the older spec defines, reached by fields kept below the floor.
    for old in &older.structs {
        if structs.iter().all(|s| s.name != old.name) && is_referenced(&structs, &old.name) {
            let fields = old
                .fields
                .iter()
                .filter_map(|f| restrict(f, below))
                .collect();
            structs.push(StructDef {
                name: old.name.clone(),
                fields,
            });
        }
    }
    Ok(Some(Spec {
        valid: Versions(Some((older_floor, max))),
        structs,
        ..current
    }))
}

/// KIP-932's v0 of the share-group APIs was early access; Kafka dropped it without a baseline.
fn is_early_access(name: &str) -> bool {
    name.starts_with("Share")
}

fn is_referenced(structs: &[StructDef], name: &str) -> bool {
    use crate::spec::Ty;
    fn names(ty: &Ty, name: &str) -> bool {
        match ty {
            Ty::Struct(n) => n == name,
            Ty::Array(inner) => names(inner, name),
            _ => false,
        }
    }
    structs
        .iter()
        .flat_map(|s| &s.fields)
        .any(|f| names(&f.ty, name))
}

fn merge_struct(
    message: &str,
    def: &StructDef,
    old: Option<&StructDef>,
    below: Versions,
) -> Result<StructDef, String> {
    let Some(old) = old else {
        return Ok(def.clone());
    };
    let mut fields: Vec<Field> = Vec::with_capacity(def.fields.len());
    for field in &def.fields {
        let merged = match old.fields.iter().find(|o| o.name == field.name) {
            Some(o) => merge_field(message, field, o, below)?,
            None => field.clone(),
        };
        fields.push(merged);
    }
    // Fields only the older spec has, kept below the floor, after the field that preceded them.
    for (index, o) in old.fields.iter().enumerate() {
        if def.fields.iter().any(|f| f.name == o.name) {
            continue;
        }
        let Some(kept) = restrict(o, below) else {
            continue;
        };
        let position = old.fields[..index]
            .iter()
            .rev()
            .find_map(|prev| fields.iter().position(|f| f.name == prev.name))
            .map_or(0, |p| p + 1);
        fields.insert(position, kept);
    }
    Ok(StructDef {
        name: def.name.clone(),
        fields,
    })
}

/// `old` limited to `below`, or `None` when it has no version there.
fn restrict(old: &Field, below: Versions) -> Option<Field> {
    let versions = old.versions.intersect(below);
    if versions.is_empty() {
        return None;
    }
    Some(Field {
        versions,
        nullable: old.nullable.intersect(versions),
        tagged: old.tagged.intersect(versions),
        ..old.clone()
    })
}

fn merge_field(
    message: &str,
    field: &Field,
    old: &Field,
    below: Versions,
) -> Result<Field, String> {
    if field.ty != old.ty || field.tag != old.tag {
        return Err(format!(
            "{message}.{}: type or tag changed between the spec snapshots",
            field.name
        ));
    }
    let join = |what: &str, low: Versions, high: Versions| {
        union(low.intersect(below), high).ok_or_else(|| {
            format!(
                "{message}.{}: {what} versions {low:?} and {high:?} do not join",
                field.name
            )
        })
    };
    Ok(Field {
        versions: join("field", old.versions, field.versions)?,
        nullable: join("nullable", old.nullable, field.nullable)?,
        tagged: join("tagged", old.tagged, field.tagged)?,
        ..field.clone()
    })
}

/// The union of a range below the floor and one at or above it, when it is one range.
fn union(low: Versions, high: Versions) -> Option<Versions> {
    match (low.0, high.0) {
        (None, _) => Some(high),
        (Some(_), None) => Some(low),
        (Some((a, b)), Some((c, d))) if b.checked_add(1) == Some(c) => Some(Versions(Some((a, d)))),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::Ty;

    fn field(name: &str, versions: (i16, i16)) -> Field {
        Field {
            name: name.into(),
            ty: Ty::Int32,
            versions: Versions(Some(versions)),
            nullable: Versions::NONE,
            tag: None,
            tagged: Versions::NONE,
            flexible: None,
            default: None,
        }
    }

    fn spec(valid: (i16, i16), fields: Vec<Field>) -> Spec {
        Spec {
            name: "ListOffsetsRequest".into(),
            kind: "request".into(),
            api_key: Some(2),
            valid: Versions(Some(valid)),
            flexible: Versions(Some((6, i16::MAX))),
            file: "ListOffsetsRequest.json".into(),
            structs: vec![StructDef {
                name: "ListOffsetsRequest".into(),
                fields,
            }],
        }
    }

    #[test]
    fn lower_versions_come_back_with_their_only_fields_in_place() {
        let current = spec(
            (1, 11),
            vec![field("ReplicaId", (1, 11)), field("Timestamp", (1, 11))],
        );
        let older = spec(
            (0, 10),
            vec![
                field("ReplicaId", (0, 10)),
                field("MaxNumOffsets", (0, 0)),
                field("Timestamp", (0, 10)),
            ],
        );
        let merged = merge(current, Some(&older)).unwrap().unwrap();
        assert_eq!(merged.valid, Versions(Some((0, 11))));
        let fields = &merged.structs[0].fields;
        let names: Vec<&str> = fields.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["ReplicaId", "MaxNumOffsets", "Timestamp"]);
        assert_eq!(fields[0].versions, Versions(Some((0, 11))));
        assert_eq!(fields[1].versions, Versions(Some((0, 0))));
    }

    #[test]
    fn a_gap_below_the_floor_is_refused() {
        let current = spec((3, 13), vec![field("Acks", (5, 13))]);
        let older = spec((0, 11), vec![field("Acks", (0, 11))]);
        assert!(merge(current, Some(&older)).is_err());
    }

    #[test]
    fn a_message_the_current_specs_dropped_is_not_generated() {
        let mut current = spec((0, 0), vec![]);
        current.valid = Versions::NONE;
        let older = spec((0, 7), vec![]);
        assert!(merge(current, Some(&older)).unwrap().is_none());
    }
}
