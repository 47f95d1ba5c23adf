//! Who a connection is: Kafka's `KafkaPrincipal` (`User:alice`; `User:ANONYMOUS` on a
//! PLAINTEXT listener or TLS without a client certificate), the distinguished name of a TLS
//! client certificate in RFC 2253 form as Java's `X500Principal.getName()` writes it, and
//! `ssl.principal.mapping.rules` (Kafka's `SslPrincipalMapper`) that turn it into a user name.

use regex::Regex;
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::SecurityError;

/// A principal: its type (always `User` for the built-in builders) and name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KafkaPrincipal {
    pub principal_type: String,
    pub name: String,
}

impl KafkaPrincipal {
    pub fn user(name: impl Into<String>) -> Self {
        Self {
            principal_type: "User".to_string(),
            name: name.into(),
        }
    }

    /// The principal of an unauthenticated connection.
    pub fn anonymous() -> Self {
        Self::user("ANONYMOUS")
    }

    /// `Type:name`, as `super.users` and ACLs write principals.
    pub fn parse(text: &str) -> Option<Self> {
        let (principal_type, name) = text.split_once(':')?;
        (!principal_type.is_empty()).then(|| Self {
            principal_type: principal_type.to_string(),
            name: name.to_string(),
        })
    }
}

impl std::fmt::Display for KafkaPrincipal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.principal_type, self.name)
    }
}

/// The subject of a DER certificate as RFC 2253 writes it: most specific RDN first, `,`
/// between RDNs, `+` inside a multi-valued one, Java's keywords (CN, L, ST, O, OU, C, STREET,
/// DC, UID) and `oid=#hex` for other attributes.
pub fn subject_dn(certificate_der: &[u8]) -> Result<String, SecurityError> {
    let (_, certificate) = X509Certificate::from_der(certificate_der)
        .map_err(|e| SecurityError::Certificate(e.to_string()))?;
    let rdns: Vec<String> = certificate
        .subject()
        .iter()
        .map(|rdn| {
            rdn.iter()
                .map(|attribute| {
                    let oid = attribute.attr_type().to_id_string();
                    match (keyword(&oid), attribute.as_str()) {
                        (Some(keyword), Ok(value)) => format!("{keyword}={}", escape(value)),
                        _ => {
                            let value = attribute.attr_value();
                            format!("{oid}=#{}", hex(&der_of(value.header.tag().0, value.data)))
                        }
                    }
                })
                .collect::<Vec<_>>()
                .join("+")
        })
        .collect();
    Ok(rdns.into_iter().rev().collect::<Vec<_>>().join(","))
}

fn keyword(oid: &str) -> Option<&'static str> {
    Some(match oid {
        "2.5.4.3" => "CN",
        "2.5.4.6" => "C",
        "2.5.4.7" => "L",
        "2.5.4.8" => "ST",
        "2.5.4.9" => "STREET",
        "2.5.4.10" => "O",
        "2.5.4.11" => "OU",
        "0.9.2342.19200300.100.1.25" => "DC",
        "0.9.2342.19200300.100.1.1" => "UID",
        _ => return None,
    })
}

/// RFC 2253 section 2.4: `,+"\<>;` escaped anywhere, `#` or a space at the start and a space
/// at the end.
fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let last = value.chars().count().saturating_sub(1);
    for (i, c) in value.chars().enumerate() {
        let special = matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';')
            || (i == 0 && (c == '#' || c == ' '))
            || (i == last && c == ' ');
        if special {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A universal-class primitive value's DER encoding (tag, length, contents).
fn der_of(tag: u32, data: &[u8]) -> Vec<u8> {
    let mut out = vec![u8::try_from(tag).unwrap_or(0x04)];
    let len = data.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .into_iter()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(data);
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `ssl.principal.mapping.rules`: `DEFAULT` or `RULE:pattern/replacement/[LU]`, tried in order;
/// a rule applies when its pattern matches the whole name.
#[derive(Debug, Clone)]
pub struct SslPrincipalMapper {
    rules: Vec<Rule>,
}

#[derive(Debug, Clone)]
enum Rule {
    Default,
    Replace {
        pattern: Regex,
        replacement: String,
        case: Option<Case>,
    },
}

#[derive(Debug, Clone, Copy)]
enum Case {
    Lower,
    Upper,
}

const RULES_KEY: &str = "ssl.principal.mapping.rules";

impl SslPrincipalMapper {
    pub fn parse(rules: &str) -> Result<Self, SecurityError> {
        let mut parsed = Vec::new();
        let mut rest = rules.trim();
        while !rest.is_empty() {
            if let Some(after) = rest.strip_prefix("DEFAULT") {
                parsed.push(Rule::Default);
                rest = after;
            } else if let Some(after) = rest.strip_prefix("RULE:") {
                let (pattern, after) = split_unescaped(after).ok_or_else(|| {
                    SecurityError::config(RULES_KEY, format!("invalid rule: {rest}"))
                })?;
                let (replacement, after) = split_unescaped(after).ok_or_else(|| {
                    SecurityError::config(RULES_KEY, format!("invalid rule: {rest}"))
                })?;
                let (case, after) = match after.chars().next() {
                    Some('L') => (Some(Case::Lower), &after[1..]),
                    Some('U') => (Some(Case::Upper), &after[1..]),
                    _ => (None, after),
                };
                let pattern = Regex::new(&format!("^(?:{pattern})$"))
                    .map_err(|e| SecurityError::config(RULES_KEY, e))?;
                parsed.push(Rule::Replace {
                    pattern,
                    replacement: java_replacement(&replacement),
                    case,
                });
                rest = after;
            } else {
                return Err(SecurityError::config(
                    RULES_KEY,
                    format!("invalid rule: {rest}"),
                ));
            }
            rest = rest.trim_start();
            match rest.strip_prefix(',') {
                Some(after) => rest = after.trim_start(),
                None if rest.is_empty() => {}
                None => {
                    return Err(SecurityError::config(
                        RULES_KEY,
                        format!("invalid rule: {rest}"),
                    ));
                }
            }
        }
        if parsed.is_empty() {
            parsed.push(Rule::Default);
        }
        Ok(Self { rules: parsed })
    }

    /// The user name for a certificate's distinguished name.
    pub fn map(&self, dn: &str) -> Result<String, SecurityError> {
        for rule in &self.rules {
            match rule {
                Rule::Default => return Ok(dn.to_string()),
                Rule::Replace {
                    pattern,
                    replacement,
                    case,
                } if pattern.is_match(dn) => {
                    let name = pattern.replace(dn, replacement.as_str()).into_owned();
                    return Ok(match case {
                        Some(Case::Lower) => name.to_lowercase(),
                        Some(Case::Upper) => name.to_uppercase(),
                        None => name,
                    });
                }
                Rule::Replace { .. } => {}
            }
        }
        Err(SecurityError::NoMatchingRule(dn.to_string()))
    }
}

/// Splits at the first `/` not escaped by `\`; the part has its `\/` unescaped.
fn split_unescaped(text: &str) -> Option<(String, &str)> {
    let mut part = String::new();
    let mut chars = text.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some((_, '/')) => part.push('/'),
                Some((_, other)) => {
                    part.push('\\');
                    part.push(other);
                }
                None => part.push('\\'),
            },
            '/' => return Some((part, &text[i + 1..])),
            c => part.push(c),
        }
    }
    None
}

/// Java's `$1` group references in Rust's `${1}` form (Rust would read `$1x` as a group named
/// `1x`); a literal `$` stays `$$`.
fn java_replacement(replacement: &str) -> String {
    let mut out = String::new();
    let mut chars = replacement.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '$' && chars.peek().is_some_and(char::is_ascii_digit) {
            let mut digits = String::new();
            while let Some(d) = chars.peek().copied().filter(char::is_ascii_digit) {
                digits.push(d);
                chars.next();
            }
            out.push_str(&format!("${{{digits}}}"));
        } else if c == '$' {
            out.push_str("$$");
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_subject_is_written_most_specific_first_without_spaces() {
        let mut params = rcgen::CertificateParams::new(vec!["localhost".into()]).unwrap();
        let mut dn = rcgen::DistinguishedName::new();
        dn.push(rcgen::DnType::CountryName, "US");
        dn.push(rcgen::DnType::OrganizationName, "x");
        dn.push(rcgen::DnType::OrganizationalUnitName, "eng");
        dn.push(rcgen::DnType::CommonName, "alice, jr");
        params.distinguished_name = dn;
        let key = rcgen::KeyPair::generate().unwrap();
        let certificate = params.self_signed(&key).unwrap();
        assert_eq!(
            subject_dn(certificate.der()).unwrap(),
            "CN=alice\\, jr,OU=eng,O=x,C=US"
        );
    }

    #[test]
    fn mapping_rules_apply_in_order_to_whole_names() {
        // Kafka's documented example (SslPrincipalMapper).
        let mapper = SslPrincipalMapper::parse(
            "RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/, RULE:^CN=(.*?),OU=(.*?),O=.*$/$1@$2/L, DEFAULT",
        )
        .unwrap();
        assert_eq!(
            mapper.map("CN=kafka1,OU=ServiceUsers,O=Org").unwrap(),
            "kafka1"
        );
        assert_eq!(
            mapper.map("CN=Adam,OU=Sales,O=Org,C=US").unwrap(),
            "adam@sales"
        );
        assert_eq!(mapper.map("OU=Other").unwrap(), "OU=Other");
        let strict = SslPrincipalMapper::parse("RULE:^CN=([a-z]+)$/$1_svc/U").unwrap();
        assert_eq!(strict.map("CN=bob").unwrap(), "BOB_SVC");
        assert!(matches!(
            strict.map("CN=bob,O=x"),
            Err(SecurityError::NoMatchingRule(_))
        ));
        assert!(SslPrincipalMapper::parse("RULE:^CN=(.*)$").is_err());
        assert!(SslPrincipalMapper::parse("NONSENSE").is_err());
    }

    #[test]
    fn principals_print_and_parse_as_type_colon_name() {
        let alice = KafkaPrincipal::parse("User:alice").unwrap();
        assert_eq!(alice, KafkaPrincipal::user("alice"));
        assert_eq!(KafkaPrincipal::anonymous().to_string(), "User:ANONYMOUS");
        assert!(KafkaPrincipal::parse("alice").is_none());
    }
}
