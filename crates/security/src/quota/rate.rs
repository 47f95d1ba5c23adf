//! The windowed rate a quota is measured with, as Kafka's `Rate` over a `SampledStat`: up to
//! `quota.window.num` samples of `quota.window.size.seconds` each; a sample older than all of
//! them together is forgotten; the rate is the retained total over the elapsed time, counted
//! as at least `num - 1` whole windows (so a first burst is measured over ~10 s, not over the
//! few milliseconds it took). A violation's throttle is Kafka's `QuotaUtils.throttleTime`:
//! `(rate - bound) / bound × elapsed window`.

/// `quota.window.num` samples of `window_ms` each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotaWindow {
    pub samples: usize,
    pub window_ms: u64,
}

impl QuotaWindow {
    /// The most a bound of `bound` per second allows within the retained windows (Kafka's
    /// `maxValueInQuotaWindow`, which caps a throttled consumer's fetch size).
    pub fn max_value(&self, bound: f64) -> f64 {
        bound * (self.samples.saturating_sub(1) as f64) * self.window_ms as f64 / 1000.0
    }
}

#[derive(Debug, Clone, Copy)]
struct Sample {
    start_ms: u64,
    value: f64,
}

/// One sensor's samples.
#[derive(Debug, Clone)]
pub struct Rate {
    window: QuotaWindow,
    samples: Vec<Sample>,
    current: usize,
    last_record_ms: u64,
}

impl Rate {
    pub fn new(window: QuotaWindow, now_ms: u64) -> Self {
        let window = QuotaWindow {
            samples: window.samples.max(2),
            window_ms: window.window_ms.max(1),
        };
        Rate {
            window,
            samples: vec![Sample {
                start_ms: now_ms,
                value: 0.0,
            }],
            current: 0,
            last_record_ms: now_ms,
        }
    }

    /// Adds `value` (negative to take back a recording) at `now_ms`.
    pub fn record(&mut self, value: f64, now_ms: u64) {
        if now_ms >= self.samples[self.current].start_ms + self.window.window_ms {
            let fresh = Sample {
                start_ms: now_ms,
                value: 0.0,
            };
            self.current = (self.current + 1) % self.window.samples;
            if self.current == self.samples.len() {
                self.samples.push(fresh);
            } else {
                self.samples[self.current] = fresh;
            }
        }
        self.samples[self.current].value += value;
        self.last_record_ms = now_ms;
    }

    /// When this sensor last recorded (for expiring idle sensors).
    pub fn last_record_ms(&self) -> u64 {
        self.last_record_ms
    }

    /// The rate per second at `now_ms`.
    pub fn measure(&mut self, now_ms: u64) -> f64 {
        let span = self.window.samples as u64 * self.window.window_ms;
        for sample in &mut self.samples {
            if now_ms.saturating_sub(sample.start_ms) >= span {
                *sample = Sample {
                    start_ms: now_ms,
                    value: 0.0,
                };
            }
        }
        let total: f64 = self.samples.iter().map(|s| s.value).sum();
        total / (self.elapsed_ms(now_ms) as f64 / 1000.0)
    }

    /// The elapsed window the rate is taken over, at least `samples - 1` whole windows.
    fn elapsed_ms(&self, now_ms: u64) -> u64 {
        let oldest = self
            .samples
            .iter()
            .map(|s| s.start_ms)
            .min()
            .unwrap_or(now_ms);
        let elapsed = now_ms.saturating_sub(oldest);
        let minimum = (self.window.samples as u64 - 1) * self.window.window_ms;
        if elapsed / self.window.window_ms < self.window.samples as u64 - 1 {
            elapsed % self.window.window_ms + minimum
        } else {
            elapsed
        }
    }

    /// How long the client must wait for the rate to come back to `bound` (0 when within it).
    pub fn throttle_ms(&mut self, bound: f64, now_ms: u64) -> u64 {
        let rate = self.measure(now_ms);
        if bound <= 0.0 || rate <= bound {
            return 0;
        }
        let window = self.elapsed_ms(now_ms) as f64;
        ((rate - bound) / bound * window).round() as u64
    }
}

/// Kafka's `TokenBucket` for `controller_mutation_rate` (KIP-599): a bucket of
/// `rate × samples × window` tokens refilled at `rate` per second; each created or deleted
/// partition takes one, and the bucket may go below zero once (the request that overdraws it is
/// still served; the next one is refused in strict mode until it refills).
#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last_ms: u64,
}

impl TokenBucket {
    pub fn new(rate: f64, window: QuotaWindow, now_ms: u64) -> Self {
        let burst = rate * window.samples as f64 * window.window_ms as f64 / 1000.0;
        TokenBucket {
            rate,
            burst,
            tokens: burst,
            last_ms: now_ms,
        }
    }

    fn refill(&mut self, now_ms: u64) {
        let elapsed = now_ms.saturating_sub(self.last_ms) as f64 / 1000.0;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        self.last_ms = self.last_ms.max(now_ms);
    }

    /// A new bound keeps the tokens spent (Kafka keeps the sensor when a quota changes).
    pub fn set_rate(&mut self, rate: f64, window: QuotaWindow, now_ms: u64) {
        self.refill(now_ms);
        self.rate = rate;
        self.burst = rate * window.samples as f64 * window.window_ms as f64 / 1000.0;
        self.tokens = self.tokens.min(self.burst);
    }

    /// Whether the bucket is overdrawn (strict mode refuses the next mutation then).
    pub fn is_exhausted(&mut self, now_ms: u64) -> bool {
        self.refill(now_ms);
        self.tokens < 0.0
    }

    /// Takes `cost` tokens, overdrawing if needed.
    pub fn take(&mut self, cost: f64, now_ms: u64) {
        self.refill(now_ms);
        self.tokens -= cost;
    }

    /// How long until the bucket is back at zero (0 when it is not overdrawn).
    pub fn throttle_ms(&mut self, now_ms: u64) -> u64 {
        self.refill(now_ms);
        if self.tokens >= 0.0 || self.rate <= 0.0 {
            0
        } else {
            (-self.tokens / self.rate * 1000.0).round() as u64
        }
    }
}
