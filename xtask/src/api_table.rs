//! Writes `generated/mod.rs`: the module list, the `ApiKey` table (names, versions, request
//! and response header versions) and the `RequestBody` / `ResponseBody` enums that dispatch on it.

use std::fmt::Write;

use crate::emit::{HEADER, snake_case};
use crate::spec::Spec;

/// One API: its request and response specs.
pub struct Api<'a> {
    pub key: i16,
    pub name: String,
    pub request: &'a Spec,
    pub response: &'a Spec,
}

pub fn mod_file(specs: &[Spec], apis: &[Api]) -> String {
    let mut out = String::new();
    out.push_str(HEADER);
    out.push_str("//! Message types generated from Kafka's JSON specs, the API key table, and the request and\n");
    out.push_str("//! response enums that dispatch on it.\n\n");
    out.push_str(
        "use bytes::Bytes;\n\nuse crate::codec::{DecodeError, EncodeError, Encoder, Message};\n",
    );
    out.push_str(
        "#[cfg(any(test, feature = \"test-support\"))]\nuse crate::codec::testing::TestRng;\n\n",
    );
    for spec in specs {
        writeln!(out, "pub mod {};", snake_case(&spec.name)).unwrap();
    }
    out.push('\n');
    for spec in specs {
        writeln!(out, "pub use {}::{};", snake_case(&spec.name), spec.name).unwrap();
    }
    out.push_str("\n/// Kafka's API keys, named as Kafka names them.\n");
    out.push_str("#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]\n#[repr(i16)]\npub enum ApiKey {\n");
    for api in apis {
        writeln!(out, "    {} = {},", api.name, api.key).unwrap();
    }
    out.push_str("}\n\nimpl ApiKey {\n    /// Every API key, in key order.\n    pub const ALL: &'static [ApiKey] = &[\n");
    for api in apis {
        writeln!(out, "        ApiKey::{},", api.name).unwrap();
    }
    out.push_str("    ];\n\n    /// The API for a key read off the wire.\n    pub fn from_i16(key: i16) -> Option<ApiKey> {\n        Some(match key {\n");
    for api in apis {
        writeln!(out, "            {} => ApiKey::{},", api.key, api.name).unwrap();
    }
    out.push_str("            _ => return None,\n        })\n    }\n\n    /// The API's name, as Kafka spells it.\n    pub fn name(self) -> &'static str {\n        match self {\n");
    for api in apis {
        writeln!(out, "            ApiKey::{} => {:?},", api.name, api.name).unwrap();
    }
    out.push_str("        }\n    }\n\n    /// The versions the specs define for this API's requests.\n    pub fn versions(self) -> (i16, i16) {\n        match self {\n");
    for api in apis {
        let (lo, hi) = api.request.valid.0.unwrap_or((0, -1));
        writeln!(out, "            ApiKey::{} => ({lo}, {hi}),", api.name).unwrap();
    }
    out.push_str("        }\n    }\n\n    /// The request header version used with this API at `version`: 2 when the request is\n    /// flexible, else 1.\n    pub fn request_header_version(self, version: i16) -> i16 {\n        match self {\n");
    for api in apis {
        let flexible = api.request.flexible.0.map(|(lo, _)| lo);
        let expr = match flexible {
            Some(lo) => format!("if version >= {lo} {{ 2 }} else {{ 1 }}"),
            None => "1".into(),
        };
        writeln!(out, "            ApiKey::{} => {expr},", api.name).unwrap();
    }
    out.push_str("        }\n    }\n\n    /// The response header version used with this API at `version`: 1 when the response is\n    /// flexible, else 0; ApiVersions always uses 0 (KIP-511).\n    pub fn response_header_version(self, version: i16) -> i16 {\n        match self {\n");
    for api in apis {
        let flexible = api.response.flexible.0.map(|(lo, _)| lo);
        let expr = match flexible {
            Some(_) if api.name == "ApiVersions" => "0".to_string(),
            Some(lo) => format!("if version >= {lo} {{ 1 }} else {{ 0 }}"),
            None => "0".into(),
        };
        writeln!(out, "            ApiKey::{} => {expr},", api.name).unwrap();
    }
    out.push_str("        }\n    }\n}\n\n");
    for (kind, suffix) in [("Request", "request"), ("Response", "response")] {
        writeln!(out, "/// The body of any {suffix}, by API.\n#[derive(Debug, Clone, PartialEq)]\npub enum {kind}Body {{").unwrap();
        for api in apis {
            writeln!(out, "    {}({}{kind}),", api.name, api.name).unwrap();
        }
        writeln!(out, "}}\n\nimpl {kind}Body {{\n    /// The API this {suffix} belongs to.\n    pub fn api_key(&self) -> ApiKey {{\n        match self {{").unwrap();
        for api in apis {
            writeln!(
                out,
                "            Self::{}(_) => ApiKey::{},",
                api.name, api.name
            )
            .unwrap();
        }
        writeln!(out, "        }}\n    }}\n\n    /// Decodes the body of a {suffix} for `api_key` at `version`.\n    pub fn decode(api_key: ApiKey, buf: &mut Bytes, version: i16) -> Result<Self, DecodeError> {{\n        Ok(match api_key {{").unwrap();
        for api in apis {
            writeln!(
                out,
                "            ApiKey::{0} => Self::{0}({0}{kind}::decode(buf, version)?),",
                api.name
            )
            .unwrap();
        }
        writeln!(out, "        }})\n    }}\n\n    /// Encodes the body at `version`.\n    pub fn encode(&self, encoder: &mut Encoder, version: i16) -> Result<(), EncodeError> {{\n        match self {{").unwrap();
        for api in apis {
            writeln!(
                out,
                "            Self::{}(body) => body.encode(encoder, version),",
                api.name
            )
            .unwrap();
        }
        writeln!(out, "        }}\n    }}\n\n    /// A body for `api_key` with every field at its spec default.\n    pub fn default_for(api_key: ApiKey) -> Self {{\n        match api_key {{").unwrap();
        for api in apis {
            writeln!(
                out,
                "            ApiKey::{0} => Self::{0}({0}{kind}::default()),",
                api.name
            )
            .unwrap();
        }
        writeln!(out, "        }}\n    }}\n\n    /// A random body for `api_key` at `version`, for property tests.\n    #[cfg(any(test, feature = \"test-support\"))]\n    pub fn random(api_key: ApiKey, rng: &mut TestRng, version: i16) -> Self {{\n        match api_key {{").unwrap();
        for api in apis {
            writeln!(
                out,
                "            ApiKey::{0} => Self::{0}({0}{kind}::random(rng, version)),",
                api.name
            )
            .unwrap();
        }
        writeln!(out, "        }}\n    }}").unwrap();
        if kind == "Response" {
            throttle_setter(&mut out, apis);
        }
        writeln!(out, "}}\n").unwrap();
        for api in apis {
            writeln!(
                out,
                "impl From<{0}{kind}> for {kind}Body {{\n    fn from(body: {0}{kind}) -> Self {{\n        Self::{0}(body)\n    }}\n}}\n",
                api.name
            )
            .unwrap();
        }
    }
    out
}

/// `ResponseBody::set_throttle_time_ms`: the quota throttle is stamped on any response whose
/// spec has a top-level `ThrottleTimeMs` (the versions without it simply do not encode it).
fn throttle_setter(out: &mut String, apis: &[Api]) {
    out.push_str("\n    /// Sets the response's `throttle_time_ms` when its message has one; `false` when not.\n");
    out.push_str(
        "    pub fn set_throttle_time_ms(&mut self, ms: i32) -> bool {\n        match self {\n",
    );
    for api in apis {
        let has = api
            .response
            .structs
            .first()
            .is_some_and(|s| s.fields.iter().any(|f| f.name == "ThrottleTimeMs"));
        if has {
            writeln!(
                out,
                "            Self::{}(body) => {{\n                body.throttle_time_ms = ms;\n                true\n            }}",
                api.name
            )
            .unwrap();
        }
    }
    out.push_str("            _ => false,\n        }\n    }\n");
}
