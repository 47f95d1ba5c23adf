//! One simulated run: the event loop, the network's deliveries, the controller's and the
//! client's handlers, and the fault schedule (crashes with disk faults, restarts, pauses,
//! partitions, flushes). The brokers' handlers are in `broker.rs`, the invariants in
//! `checker.rs`. Everything random comes from one [`Rng`] seeded by the run's seed, and time
//! is the scheduler's virtual clock, so a seed replays its run exactly.

use std::collections::{BTreeMap, VecDeque};

use broker::replica::BrokerId;
use controller::MetadataImage;

use crate::broker::BrokerNode;
use crate::checker::{Checker, Violation};
use crate::config::{Mutation, SimConfig};
use crate::controller::{Controller, TOPIC};
use crate::network::{Message, Network, Node};
use crate::rng::Rng;
use crate::scheduler::Scheduler;

/// Something that happens at a virtual time.
#[derive(Debug, Clone)]
pub enum Event {
    /// A message arrives; `incarnation` is the receiving broker's when it was sent.
    Deliver {
        from: Node,
        to: Node,
        incarnation: u32,
        message: Message,
    },
    /// A broker's periodic work: heartbeats, ISR checks, fetches, deadlines.
    BrokerTick {
        broker: BrokerId,
        incarnation: u32,
    },
    /// Tasks waiting on a partition (produce acks, long-polling fetches) run after a wake-up.
    Wake {
        broker: BrokerId,
        incarnation: u32,
    },
    ControllerTick,
    ClientTick,
    FaultTick,
    Restart {
        broker: BrokerId,
    },
    Heal,
}

impl Event {
    /// A compact fingerprint for the run's determinism hash.
    fn fingerprint(&self) -> u64 {
        let node = |n: &Node| match n {
            Node::Broker(b) => *b as u64,
            Node::Controller => 100,
            Node::Client => 101,
        };
        match self {
            Event::Deliver { from, to, .. } => 1 << 32 | node(from) << 8 | node(to),
            Event::BrokerTick { broker, .. } => 2 << 32 | *broker as u64,
            Event::Wake { broker, .. } => 3 << 32 | *broker as u64,
            Event::ControllerTick => 4 << 32,
            Event::ClientTick => 5 << 32,
            Event::FaultTick => 6 << 32,
            Event::Restart { broker } => 7 << 32 | *broker as u64,
            Event::Heal => 8 << 32,
        }
    }
}

/// What a run did.
#[derive(Debug, Clone)]
pub struct RunReport {
    pub seed: u64,
    pub steps: u64,
    pub virtual_ms: i64,
    pub acked: usize,
    /// The violation and the step it happened at.
    pub violation: Option<(u64, Violation)>,
    /// A hash of every event's time and kind: the same seed gives the same hash.
    pub trace_hash: u64,
    /// The last trace lines (only when tracing).
    pub trace: Vec<String>,
}

/// The simulated cluster and everything around it.
pub struct World {
    pub(crate) config: SimConfig,
    pub(crate) rng: Rng,
    pub(crate) scheduler: Scheduler<Event>,
    pub(crate) network: Network,
    pub(crate) brokers: Vec<BrokerNode>,
    pub(crate) controller: Controller,
    pub(crate) checker: Checker,
    /// A violation found inside a handler (an append or an acknowledgement).
    pub(crate) violation: Option<Violation>,
    pub(crate) next_request: u64,
    /// The client's requests in flight (each sends its request id as the value): when sent.
    client_in_flight: BTreeMap<u64, i64>,
    tracing: bool,
    trace: VecDeque<String>,
    step: u64,
}

impl World {
    pub fn new(seed: u64, config: SimConfig, tracing: bool) -> Self {
        let unclean = config.mutation == Some(Mutation::UncleanElection);
        let controller = Controller::new(
            config.brokers,
            config.session_timeout_ms,
            config.min_insync_replicas,
            unclean,
        );
        let network = Network::new(config.faults, config.delay_ms_max, config.delay_long_ms);
        let brokers = (0..config.brokers).map(BrokerNode::new).collect();
        let mut world = World {
            rng: Rng::new(seed),
            scheduler: Scheduler::new(),
            network,
            brokers,
            controller,
            checker: Checker::default(),
            violation: None,
            next_request: 0,
            client_in_flight: BTreeMap::new(),
            tracing,
            trace: VecDeque::new(),
            step: 0,
            config,
        };
        for broker in 0..world.config.brokers {
            world.start_broker(broker);
        }
        world.scheduler.after(1, Event::ControllerTick);
        world.scheduler.after(1, Event::ClientTick);
        world.scheduler.after(200, Event::FaultTick);
        world
    }

    /// Runs `config.steps` events, checking the invariants after each; stops at a violation.
    pub fn run(mut self, seed: u64) -> RunReport {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        let mut violation = None;
        while self.step < self.config.steps {
            let Some(event) = self.scheduler.pop() else {
                break;
            };
            self.step += 1;
            hash = (hash ^ event.fingerprint() ^ (self.now_ms() as u64) << 40)
                .wrapping_mul(0x0100_0000_01b3);
            self.handle(event);
            let found = self.violation.take().map_or_else(
                || {
                    let current = self.current_leadership();
                    self.checker.check(&mut self.brokers, current)
                },
                Err,
            );
            if let Err(found) = found {
                self.note(|| {
                    format!(
                        "VIOLATION of invariant {}: {}",
                        found.invariant, found.detail
                    )
                });
                violation = Some((self.step, found));
                break;
            }
        }
        RunReport {
            seed,
            steps: self.step,
            virtual_ms: self.now_ms(),
            acked: self.checker.acked_count(),
            violation,
            trace_hash: hash,
            trace: self.trace.into_iter().collect(),
        }
    }

    /// The partition's leader and leader epoch in the controller's image.
    pub(crate) fn current_leadership(&self) -> (Option<BrokerId>, i32) {
        self.controller
            .image()
            .partition(TOPIC, 0)
            .map_or((None, -1), |p| (p.leader, p.leader_epoch))
    }

    pub(crate) fn now_ms(&self) -> i64 {
        self.scheduler.now_ms()
    }

    /// Adds a trace line (formatted only when tracing).
    pub(crate) fn note(&mut self, line: impl FnOnce() -> String) {
        if !self.tracing {
            return;
        }
        if self.trace.len() == self.config.trace_lines {
            self.trace.pop_front();
        }
        let text = format!(
            "[step {:>5} t={:>6}ms] {}",
            self.step,
            self.now_ms(),
            line()
        );
        self.trace.push_back(text);
    }

    /// Sends `message`; the network decides whether and when copies arrive.
    pub(crate) fn send(&mut self, from: Node, to: Node, message: Message) {
        let incarnation = match to {
            Node::Broker(b) => {
                let target = &self.brokers[b as usize];
                if !target.up {
                    return;
                }
                target.incarnation
            }
            _ => 0,
        };
        for delay in self.network.deliveries(from, to, &mut self.rng) {
            self.scheduler.after(
                delay,
                Event::Deliver {
                    from,
                    to,
                    incarnation,
                    message: message.clone(),
                },
            );
        }
    }

    fn handle(&mut self, event: Event) {
        // A paused broker runs nothing until it resumes; what arrives waits for it.
        if let Some(broker) = event_broker(&event) {
            let b = &self.brokers[broker as usize];
            if b.up && b.paused_until > self.now_ms() {
                let delay = b.paused_until - self.now_ms();
                self.scheduler.after(delay, event);
                return;
            }
        }
        match event {
            Event::Deliver {
                from,
                to,
                incarnation,
                message,
            } => match to {
                Node::Broker(b) => {
                    let target = &self.brokers[b as usize];
                    if target.up && target.incarnation == incarnation {
                        self.broker_receive(b, from, message);
                    }
                }
                Node::Controller => self.controller_receive(message),
                Node::Client => self.client_receive(message),
            },
            Event::BrokerTick {
                broker,
                incarnation,
            } => {
                if self.brokers[broker as usize].is_incarnation(incarnation) {
                    self.broker_tick(broker);
                    let delay = self.config.tick_ms + self.rng.between(0, 5);
                    self.scheduler.after(
                        delay,
                        Event::BrokerTick {
                            broker,
                            incarnation,
                        },
                    );
                }
            }
            Event::Wake {
                broker,
                incarnation,
            } => {
                if self.brokers[broker as usize].is_incarnation(incarnation) {
                    self.brokers[broker as usize].wake_scheduled = false;
                    self.broker_wake(broker);
                }
            }
            Event::ControllerTick => {
                let now = self.now_ms();
                let fenced = self.controller.expire_sessions(now);
                if !fenced.is_empty() {
                    self.note(|| format!("controller: sessions expired, fenced {fenced:?}"));
                    self.publish_image();
                }
                self.scheduler.after(50, Event::ControllerTick);
            }
            Event::ClientTick => {
                self.client_tick();
                let delay = self.rng.between(5, 30);
                self.scheduler.after(delay, Event::ClientTick);
            }
            Event::FaultTick => {
                self.inject_fault();
                let delay = self.rng.between(100, 500);
                self.scheduler.after(delay, Event::FaultTick);
            }
            Event::Restart { broker } => {
                self.note(|| format!("broker {broker} restarts"));
                self.start_broker(broker);
            }
            Event::Heal => {
                if self.network.is_partitioned() {
                    self.note(|| "network heals".to_string());
                    self.network.heal();
                }
            }
        }
    }

    /// Sends the controller's current image to every broker (the metadata log's followers).
    pub(crate) fn publish_image(&mut self) {
        let image = self.controller.image().clone();
        self.note(|| describe_image(&image));
        for broker in 0..self.config.brokers {
            self.send(
                Node::Controller,
                Node::Broker(broker),
                Message::Image(image.clone()),
            );
        }
    }

    fn controller_receive(&mut self, message: Message) {
        let now = self.now_ms();
        match message {
            Message::Register { broker, request } => {
                let epoch = self.controller.register(broker, now);
                self.note(|| format!("controller: broker {broker} registered at epoch {epoch}"));
                self.send(
                    Node::Controller,
                    Node::Broker(broker),
                    Message::Registered {
                        request,
                        broker_epoch: epoch,
                    },
                );
                self.publish_image();
            }
            Message::Heartbeat {
                broker,
                broker_epoch,
                request,
            } => {
                let offset = self.controller.image().offset;
                let answer = self.controller.heartbeat(broker, broker_epoch, now);
                if self.controller.image().offset != offset {
                    self.note(|| format!("controller: broker {broker} unfenced"));
                    self.publish_image();
                }
                let image = self.controller.image().clone();
                self.send(
                    Node::Controller,
                    Node::Broker(broker),
                    Message::HeartbeatAnswer {
                        request,
                        answer,
                        image,
                    },
                );
            }
            Message::Propose(command) => {
                let shown = format!("{command:?}");
                let result = self.controller.propose(command);
                self.note(|| format!("controller: {shown} -> {result:?}"));
                if result.is_ok() {
                    self.publish_image();
                }
            }
            _ => {}
        }
    }

    fn client_tick(&mut self) {
        let now = self.now_ms();
        let timeout = self.config.produce_timeout_ms;
        self.client_in_flight
            .retain(|_, sent| now - *sent < timeout);
        if self.client_in_flight.len() >= self.config.produce_in_flight_max {
            return;
        }
        // The client's metadata: the controller's view of the leader.
        let Some(leader) = self
            .controller
            .image()
            .partition(TOPIC, 0)
            .and_then(|p| p.leader)
        else {
            return;
        };
        self.next_request += 1;
        let request = self.next_request;
        self.client_in_flight.insert(request, now);
        self.send(
            Node::Client,
            Node::Broker(leader),
            Message::Produce {
                request,
                value: request,
            },
        );
    }

    fn client_receive(&mut self, message: Message) {
        if let Message::ProduceAnswer { request, answer } = message
            && self.client_in_flight.remove(&request).is_some()
        {
            self.note(|| format!("client: request {request} answered {answer:?}"));
        }
    }

    /// One random fault, if the run has it enabled.
    fn inject_fault(&mut self) {
        let faults = self.config.faults;
        let now = self.now_ms();
        let up: Vec<BrokerId> = self
            .brokers
            .iter()
            .filter(|b| b.up && b.paused_until <= now)
            .map(|b| b.id)
            .collect();
        match self.rng.below(6) {
            0 | 1 if faults.crash && !up.is_empty() => {
                let broker = self.rng.pick(&up);
                let disk = faults.disk;
                let b = &mut self.brokers[broker as usize];
                let damage = b.crash(&disk, &mut self.rng);
                self.note(|| format!("broker {broker} crashes: {damage:?}"));
                let down_ms = self.rng.between(100, 2_000);
                self.scheduler.after(down_ms, Event::Restart { broker });
            }
            2 if faults.pause && !up.is_empty() => {
                let broker = self.rng.pick(&up);
                let pause_ms = self.rng.between(100, 1_500);
                self.brokers[broker as usize].paused_until = now + pause_ms;
                self.note(|| format!("broker {broker} paused for {pause_ms}ms"));
            }
            3 | 4 if faults.partition => {
                let nodes: Vec<Node> = (0..self.config.brokers).map(Node::Broker).collect();
                let victim = self.rng.pick(&nodes);
                let others: Vec<Node> = nodes.iter().copied().filter(|&n| n != victim).collect();
                let (a, b, both, what) = match self.rng.below(4) {
                    0 => (vec![victim], others, true, "isolated from the brokers"),
                    1 => (
                        vec![victim],
                        vec![Node::Controller],
                        true,
                        "cut from the controller",
                    ),
                    2 => (
                        vec![victim],
                        [others.as_slice(), &[Node::Controller]].concat(),
                        true,
                        "isolated",
                    ),
                    _ => (
                        vec![victim],
                        vec![self.rng.pick(&others)],
                        false,
                        "one-way cut to",
                    ),
                };
                self.note(|| format!("partition: {victim:?} {what} {b:?} (both ways: {both})"));
                self.network.partition(&a, &b, both);
                let heal_ms = self.rng.between(200, 2_000);
                self.scheduler.after(heal_ms, Event::Heal);
            }
            _ if !faults.disk.fsync_on_append && !up.is_empty() => {
                let broker = self.rng.pick(&up);
                self.brokers[broker as usize].log.flush();
                self.note(|| format!("broker {broker} flushes its log"));
            }
            _ => {}
        }
    }
}

fn event_broker(event: &Event) -> Option<BrokerId> {
    match event {
        Event::Deliver {
            to: Node::Broker(b),
            ..
        }
        | Event::BrokerTick { broker: b, .. }
        | Event::Wake { broker: b, .. } => Some(*b),
        _ => None,
    }
}

/// The partition's state in an image, for the trace.
pub(crate) fn describe_image(image: &MetadataImage) -> String {
    let fenced: Vec<BrokerId> = image
        .brokers
        .values()
        .filter(|b| b.fenced)
        .map(|b| b.broker_id)
        .collect();
    match image.partition(TOPIC, 0) {
        Some(p) => format!(
            "image {}: leader {:?} epoch {} isr {:?} partition epoch {}, fenced {fenced:?}",
            image.offset, p.leader, p.leader_epoch, p.isr, p.partition_epoch
        ),
        None => format!("image {}: no partition", image.offset),
    }
}
