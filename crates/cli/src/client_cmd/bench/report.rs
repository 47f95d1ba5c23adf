//! What `runnel bench` prints when it ends: records, bytes, seconds, records/s, MB/s and the
//! request latency percentiles (p50, p90, p99, p99.9, max, in ms), as aligned text or as one
//! JSON object (`--format json`). Latencies are recorded in microseconds in an HDR histogram
//! (3 significant digits, 1 µs to 1 hour; a longer one counts as 1 hour).
//!
//! MB are 2^20 bytes, as kafka-producer-perf-test and kafka-consumer-perf-test count them.

use std::time::Duration;

use hdrhistogram::Histogram;

/// The longest latency the histogram tells apart, in µs.
const LATENCY_US_MAX: u64 = 3_600_000_000;
/// Bytes in a MB, as Kafka's perf tools count.
const MB: f64 = 1024.0 * 1024.0;

/// `--format`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ReportFormat {
    Text,
    Json,
}

/// Request latencies, in microseconds.
pub(super) struct LatencyRecorder {
    histogram: Histogram<u64>,
}

impl LatencyRecorder {
    pub(super) fn new() -> LatencyRecorder {
        LatencyRecorder {
            histogram: Histogram::new_with_bounds(1, LATENCY_US_MAX, 3)
                .expect("1 µs .. 1 h at 3 digits is a valid histogram"),
        }
    }

    pub(super) fn record(&mut self, latency: Duration) {
        let us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.histogram.saturating_record(us.max(1));
    }

    pub(super) fn summary(&self) -> LatencySummary {
        let ms = |us: u64| us as f64 / 1000.0;
        let h = &self.histogram;
        LatencySummary {
            count: h.len(),
            p50_ms: ms(h.value_at_quantile(0.50)),
            p90_ms: ms(h.value_at_quantile(0.90)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            p999_ms: ms(h.value_at_quantile(0.999)),
            max_ms: ms(h.max()),
            mean_ms: h.mean() / 1000.0,
        }
    }
}

/// Latency percentiles in milliseconds (0 when nothing was recorded).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct LatencySummary {
    pub count: u64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
    pub mean_ms: f64,
}

/// The outcome of one run.
#[derive(Debug, Clone)]
pub(super) struct Report {
    /// `produce` or `consume`.
    pub operation: &'static str,
    pub topic: String,
    pub records: u64,
    /// Value (and key) bytes, as Kafka's perf tools count them.
    pub bytes: u64,
    pub elapsed: Duration,
    /// What a latency is ("per Produce request"), for the text form.
    pub latency_of: &'static str,
    pub latency: LatencySummary,
}

impl Report {
    fn seconds(&self) -> f64 {
        self.elapsed.as_secs_f64()
    }

    fn records_per_sec(&self) -> f64 {
        per_sec(self.records as f64, self.seconds())
    }

    fn mb_per_sec(&self) -> f64 {
        per_sec(self.bytes as f64 / MB, self.seconds())
    }

    pub(super) fn render(&self, format: ReportFormat) -> String {
        match format {
            ReportFormat::Text => self.text(),
            ReportFormat::Json => format!("{}\n", self.json()),
        }
    }

    fn text(&self) -> String {
        let l = &self.latency;
        let rows = [
            ("topic", self.topic.clone()),
            ("records", self.records.to_string()),
            ("bytes", self.bytes.to_string()),
            ("seconds", format!("{:.3}", self.seconds())),
            ("records/s", format!("{:.1}", self.records_per_sec())),
            ("MB/s", format!("{:.2}", self.mb_per_sec())),
            ("requests", l.count.to_string()),
            (
                "latency ms",
                format!(
                    "p50 {:.3}  p90 {:.3}  p99 {:.3}  p99.9 {:.3}  max {:.3}  ({})",
                    l.p50_ms, l.p90_ms, l.p99_ms, l.p999_ms, l.max_ms, self.latency_of
                ),
            ),
        ];
        let mut out = format!("bench {}\n", self.operation);
        for (name, value) in rows {
            out.push_str(&format!("  {name:<11}{value}\n"));
        }
        out
    }

    fn json(&self) -> serde_json::Value {
        let l = &self.latency;
        serde_json::json!({
            "operation": self.operation,
            "topic": self.topic,
            "records": self.records,
            "bytes": self.bytes,
            "seconds": round(self.seconds(), 6),
            "records_per_sec": round(self.records_per_sec(), 1),
            "mb_per_sec": round(self.mb_per_sec(), 3),
            "requests": l.count,
            "latency_ms": {
                "p50": l.p50_ms,
                "p90": l.p90_ms,
                "p99": l.p99_ms,
                "p99_9": l.p999_ms,
                "max": l.max_ms,
                "mean": round(l.mean_ms, 3),
            },
        })
    }
}

/// `amount / seconds`, 0 for a zero-length run.
fn per_sec(amount: f64, seconds: f64) -> f64 {
    if seconds > 0.0 { amount / seconds } else { 0.0 }
}

fn round(value: f64, digits: i32) -> f64 {
    let scale = 10f64.powi(digits);
    (value * scale).round() / scale
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(latencies_us: &[u64]) -> Report {
        let mut recorder = LatencyRecorder::new();
        for &us in latencies_us {
            recorder.record(Duration::from_micros(us));
        }
        Report {
            operation: "produce",
            topic: "t".into(),
            records: 1_000_000,
            bytes: 100_000_000,
            elapsed: Duration::from_millis(2500),
            latency_of: "per Produce request",
            latency: recorder.summary(),
        }
    }

    #[test]
    fn percentiles_come_from_the_histogram_in_milliseconds() {
        // 1..=1000 ms, one each: p50 is the 500th value, p99.9 the 999th, max the last.
        let latencies: Vec<u64> = (1..=1000).map(|ms| ms * 1000).collect();
        let l = report(&latencies).latency;
        assert_eq!(l.count, 1000);
        // Three significant digits: each within 0.1% of the exact value.
        for (got, exact) in [
            (l.p50_ms, 500.0),
            (l.p90_ms, 900.0),
            (l.p99_ms, 990.0),
            (l.p999_ms, 999.0),
            (l.max_ms, 1000.0),
        ] {
            assert!((got - exact).abs() <= exact / 1000.0, "{got} vs {exact}");
        }
        assert!((l.mean_ms - 500.5).abs() < 1.0, "{}", l.mean_ms);
    }

    #[test]
    fn out_of_range_latencies_saturate_instead_of_failing() {
        let mut recorder = LatencyRecorder::new();
        recorder.record(Duration::ZERO);
        recorder.record(Duration::from_secs(100_000));
        let l = recorder.summary();
        assert_eq!(l.count, 2);
        assert!(l.max_ms >= 3_600_000.0 * 0.999, "{}", l.max_ms);
        assert!(l.p50_ms <= 0.001 + f64::EPSILON, "{}", l.p50_ms);
    }

    #[test]
    fn the_text_report_lists_rates_and_percentiles() {
        let text = report(&[1500, 2500]).render(ReportFormat::Text);
        assert_eq!(
            text,
            "bench produce\n  topic      t\n  records    1000000\n  bytes      100000000\n  \
             seconds    2.500\n  records/s  400000.0\n  MB/s       38.15\n  requests   2\n  \
             latency ms p50 1.500  p90 2.501  p99 2.501  p99.9 2.501  max 2.501  (per Produce \
             request)\n"
        );
    }

    #[test]
    fn the_json_report_is_one_object_with_the_same_figures() {
        let json = report(&[1500, 2500]).render(ReportFormat::Json);
        assert_eq!(json.lines().count(), 1);
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(value["operation"], "produce");
        assert_eq!(value["records"], 1_000_000);
        assert_eq!(value["bytes"], 100_000_000);
        assert_eq!(value["seconds"], 2.5);
        assert_eq!(value["records_per_sec"], 400_000.0);
        assert_eq!(value["mb_per_sec"], 38.147);
        assert_eq!(value["requests"], 2);
        assert_eq!(value["latency_ms"]["p50"], 1.5);
        assert_eq!(value["latency_ms"]["max"], 2.501);
    }

    #[test]
    fn an_empty_run_reports_zeros() {
        let mut empty = report(&[]);
        empty.records = 0;
        empty.bytes = 0;
        empty.elapsed = Duration::ZERO;
        let value: serde_json::Value =
            serde_json::from_str(&empty.render(ReportFormat::Json)).unwrap();
        assert_eq!(value["records_per_sec"], 0.0);
        assert_eq!(value["latency_ms"]["p99"], 0.0);
    }
}
