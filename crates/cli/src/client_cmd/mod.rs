//! The `runnel` client subcommands (`topic`, `produce`, `consume`, `group`, `cluster`, `bench`):
//! their shared options (`--bootstrap-server`), the runtime they run on, and how they end: output
//! on stdout, one `runnel: ...` line on stderr for an error (with Kafka's error name when the
//! broker sent one) and a non-zero exit. Bad arguments are clap's: usage and exit 2.
//!
//! Each subcommand lives in its own file (`bench` in its own folder) and speaks to the cluster only through the `client`
//! crate; none of this depends on the broker.

pub mod bench;
pub mod cluster;
pub mod consume;
mod format;
pub mod group;
pub mod produce;
pub mod topic;

use std::future::Future;
use std::process::ExitCode;
use std::time::Duration;

use client::{Client, ClientConfig, ClientError, ClientSecurity};

pub use bench::BenchArgs;
pub use cluster::ClusterArgs;
pub use consume::ConsumeArgs;
pub use group::GroupArgs;
pub use produce::ProduceArgs;
pub use topic::TopicArgs;

/// Where the cluster is; every client subcommand takes it.
#[derive(clap::Args, Debug, Clone)]
pub struct ConnectArgs {
    /// A broker to start from (several: comma-separated).
    #[arg(
        long,
        value_name = "HOST:PORT",
        default_value = "127.0.0.1:9092",
        global = true
    )]
    bootstrap_server: String,
    /// Bound on connecting and on each request, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 30_000, global = true)]
    request_timeout_ms: u64,
    /// A Kafka client properties file: security.protocol, ssl.truststore.location (PEM),
    /// ssl.keystore.location, ssl.endpoint.identification.algorithm, sasl.mechanism (PLAIN,
    /// SCRAM-SHA-256, SCRAM-SHA-512), sasl.jaas.config.
    #[arg(long, value_name = "FILE", global = true)]
    command_config: Option<std::path::PathBuf>,
    /// One client property, over the file's (repeatable).
    #[arg(long, value_name = "KEY=VALUE", value_parser = key_value, global = true)]
    command_property: Vec<(String, String)>,
}

impl ConnectArgs {
    /// The security settings of `--command-config` and `--command-property`.
    fn security(&self) -> Result<ClientSecurity, ClientError> {
        let mut properties = std::collections::BTreeMap::new();
        if let Some(path) = &self.command_config {
            let text = std::fs::read_to_string(path)
                .map_err(|e| ClientError::Invalid(format!("reading {}: {e}", path.display())))?;
            properties = crate::properties::parse(&text)
                .map_err(|e| ClientError::Invalid(format!("{}: {e}", path.display())))?;
        }
        properties.extend(self.command_property.iter().cloned());
        ClientSecurity::from_properties(&|key| properties.get(key).cloned())
            .map_err(|e| ClientError::Invalid(format!("client properties: {e}")))
    }

    async fn connect(&self) -> Result<Client, ClientError> {
        let security = self.security()?;
        Client::connect(ClientConfig {
            bootstrap_servers: self
                .bootstrap_server
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect(),
            client_id: "runnel-cli".into(),
            request_timeout: Duration::from_millis(self.request_timeout_ms),
            security,
        })
        .await
    }
}

/// Why a subcommand failed.
#[derive(Debug)]
pub(crate) enum CommandError {
    Client(ClientError),
    /// Input the command could not use (a stdin line without the key separator).
    Input(String),
    /// Writing the output failed (other than a closed pipe, which ends the command quietly).
    Output(std::io::Error),
}

impl From<ClientError> for CommandError {
    fn from(error: ClientError) -> Self {
        CommandError::Client(error)
    }
}

impl std::fmt::Display for CommandError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CommandError::Client(error) => write!(f, "{error}"),
            CommandError::Input(message) => f.write_str(message),
            CommandError::Output(error) => write!(f, "writing the output: {error}"),
        }
    }
}

/// Runs a subcommand on a single-threaded runtime and turns its end into an exit code.
pub(crate) fn run<F>(name: &str, command: F) -> ExitCode
where
    F: Future<Output = Result<(), CommandError>>,
{
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("runnel {name}: starting the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("runnel {name}: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Writes `text` to stdout; a closed pipe (`runnel consume ... | head`) is `Ok(false)`: stop.
pub(crate) fn print_out(text: &str) -> Result<bool, CommandError> {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Ok(()) => Ok(true),
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => Ok(false),
        Err(error) => Err(CommandError::Output(error)),
    }
}

/// Lines of cells aligned in columns (two spaces apart), the first row a header.
pub(crate) fn table(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .filter_map(|row| row.get(c))
                .map(|cell| cell.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            if c + 1 == row.len() {
                line.push_str(cell);
            } else {
                line.push_str(cell);
                line.extend(std::iter::repeat_n(
                    ' ',
                    widths[c] - cell.chars().count() + 2,
                ));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// Parses `KEY=VALUE` (clap value parser for `--config` and `--header`).
pub(crate) fn key_value(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_string(), value.to_string())),
        _ => Err(format!("expected KEY=VALUE, got {text:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_their_columns() {
        let rows = vec![
            vec!["GROUP".to_string(), "LAG".to_string()],
            vec!["a-long-group".to_string(), "0".to_string()],
        ];
        assert_eq!(table(&rows), "GROUP         LAG\na-long-group  0\n");
    }

    #[test]
    fn key_values_split_at_the_first_equals_sign() {
        assert_eq!(key_value("a=b=c"), Ok(("a".into(), "b=c".into())));
        assert_eq!(key_value("a="), Ok(("a".into(), String::new())));
        assert!(key_value("=b").is_err());
        assert!(key_value("ab").is_err());
    }
}
