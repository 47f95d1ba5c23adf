//! Reading configuration sources: Java `.properties` files (as Kafka's server.properties) and
//! `RUNNEL_`-prefixed environment variables (`RUNNEL_LOG_DIRS` is `log.dirs`).

use std::collections::BTreeMap;

/// Parses the subset of the `.properties` format Kafka's files use: `key=value` or `key: value`
/// lines, `#` and `!` comments, blank lines, and lines continued with a trailing backslash.
pub fn parse(text: &str) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    let mut pending = String::new();
    for (number, raw) in text.lines().enumerate() {
        let line = raw.trim_start();
        if pending.is_empty() && (line.is_empty() || line.starts_with('#') || line.starts_with('!'))
        {
            continue;
        }
        if let Some(continued) = line.strip_suffix('\\') {
            pending.push_str(continued);
            continue;
        }
        pending.push_str(line);
        let entry = std::mem::take(&mut pending);
        let split = entry
            .find(['=', ':'])
            .ok_or_else(|| format!("line {}: expected key=value", number + 1))?;
        let key = entry[..split].trim();
        let value = entry[split + 1..].trim();
        if key.is_empty() {
            return Err(format!("line {}: empty key", number + 1));
        }
        out.insert(key.to_string(), value.to_string());
    }
    Ok(out)
}

/// The properties set by `RUNNEL_*` variables: the rest of the name, lower-cased, with `_` as `.`.
pub fn from_environment(vars: impl Iterator<Item = (String, String)>) -> BTreeMap<String, String> {
    vars.filter_map(|(name, value)| {
        let key = name.strip_prefix("RUNNEL_")?;
        if key == "LOG" {
            return None; // the log filter, not a property
        }
        Some((key.to_ascii_lowercase().replace('_', "."), value))
    })
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kafka_style_properties() {
        let text = "# comment\n! also\nnode.id=3\nlisteners = PLAINTEXT://127.0.0.1:9092\nlog.dirs: /tmp/a\nlong=a,\\\n  b\n\n";
        let props = parse(text).unwrap();
        assert_eq!(props["node.id"], "3");
        assert_eq!(props["listeners"], "PLAINTEXT://127.0.0.1:9092");
        assert_eq!(props["log.dirs"], "/tmp/a");
        assert_eq!(props["long"], "a,b");
        assert!(parse("novalue\n").is_err());
    }

    #[test]
    fn environment_variables_map_to_property_names() {
        let vars = vec![
            ("RUNNEL_LOG_DIRS".to_string(), "/data".to_string()),
            ("RUNNEL_LOG".to_string(), "debug".to_string()),
            ("HOME".to_string(), "/root".to_string()),
        ];
        let props = from_environment(vars.into_iter());
        assert_eq!(props.len(), 1);
        assert_eq!(props["log.dirs"], "/data");
    }
}
