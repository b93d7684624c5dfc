//! A deterministic scheduler for exploring interleavings, in the spirit of awslabs' shuttle:
//! every task runs on one thread, and at every port call it yields; the scheduler then picks,
//! from a seeded random source, which ready task runs next, or lets virtual time jump ahead.
//! A schedule is a pure function of its seed, so a failing seed replays exactly.
//!
//! Time is virtual: tasks sleep on the clock (Step Functions' Wait states, retry intervals),
//! and when no task is ready the clock advances to the earliest timer.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Wake, Waker};
use time::OffsetDateTime;

/// splitmix64: small, fast, and good enough to pick schedules.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// True with probability `percent`/100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

type Task = Pin<Box<dyn Future<Output = ()> + Send>>;

#[derive(Default)]
struct State {
    ready: BTreeSet<usize>,
    /// (wake time, task) → waker.
    timers: BTreeMap<(OffsetDateTime, usize), Waker>,
    spawned: Vec<Task>,
    next_id: usize,
    /// Orders timers that end at the same instant by when they were set.
    next_timer: usize,
}

/// The scheduler's shared handle: spawn tasks, sleep, read the clock.
#[derive(Clone)]
pub struct Sim {
    state: Arc<Mutex<State>>,
    clock: Arc<Mutex<OffsetDateTime>>,
    rng: Arc<Mutex<Rng>>,
}

impl std::fmt::Debug for Sim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sim")
            .field("now", &self.now())
            .finish_non_exhaustive()
    }
}

struct TaskWaker {
    id: usize,
    state: Arc<Mutex<State>>,
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        lock(&self.state).ready.insert(self.id);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Why a run stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunEnd {
    /// Every task finished.
    Quiescent,
    /// The step budget ran out (a livelock, or a scenario too long).
    OutOfSteps,
}

impl Sim {
    pub fn new(seed: u64, start: OffsetDateTime) -> Self {
        Self {
            state: Arc::default(),
            clock: Arc::new(Mutex::new(start)),
            rng: Arc::new(Mutex::new(Rng::new(seed))),
        }
    }

    pub fn now(&self) -> OffsetDateTime {
        *lock(&self.clock)
    }

    /// A random number from the schedule's source (faults use it too, so they replay).
    pub fn below(&self, n: u64) -> u64 {
        lock(&self.rng).below(n)
    }

    pub fn chance(&self, percent: u64) -> bool {
        lock(&self.rng).chance(percent)
    }

    /// Adds a task; it runs when the scheduler picks it.
    pub fn spawn(&self, task: impl Future<Output = ()> + Send + 'static) {
        let mut state = lock(&self.state);
        state.spawned.push(Box::pin(task));
    }

    /// Spawns a task and returns a future of its result.
    pub fn spawn_with<T: Send + 'static>(
        &self,
        task: impl Future<Output = T> + Send + 'static,
    ) -> impl Future<Output = T> + Send + 'static {
        let slot: Arc<Mutex<(Option<T>, Option<Waker>)>> = Arc::new(Mutex::new((None, None)));
        let filled = slot.clone();
        self.spawn(async move {
            let value = task.await;
            let mut guard = lock(&filled);
            guard.0 = Some(value);
            if let Some(waker) = guard.1.take() {
                waker.wake();
            }
        });
        Joined { slot }
    }

    /// Gives the scheduler a chance to run another task (every port call does this).
    pub fn yield_now(&self) -> impl Future<Output = ()> + Send + 'static {
        YieldNow { yielded: false }
    }

    /// Sleeps in virtual time.
    pub fn sleep(&self, seconds: f64) -> impl Future<Output = ()> + Send + 'static {
        let until = self.now() + time::Duration::seconds_f64(seconds.max(0.0));
        let seq = {
            let mut state = lock(&self.state);
            state.next_timer += 1;
            state.next_timer
        };
        Sleep {
            until,
            seq,
            clock: self.clock.clone(),
            state: self.state.clone(),
        }
    }

    /// Runs the tasks to quiescence, at most `max_steps` polls; `jump` returns virtual
    /// seconds to advance the clock between steps (0: none), so that expiries and Cloud WAN
    /// transitions can land anywhere in a schedule.
    pub fn run(&self, max_steps: usize, mut jump: impl FnMut(&Sim) -> f64) -> RunEnd {
        let mut tasks: BTreeMap<usize, Task> = BTreeMap::new();
        for _ in 0..max_steps {
            self.adopt(&mut tasks);
            if tasks.is_empty() {
                return RunEnd::Quiescent;
            }
            let seconds = jump(self);
            if seconds > 0.0 {
                self.advance_to(self.now() + time::Duration::seconds_f64(seconds));
            }
            let ready: Vec<usize> = lock(&self.state).ready.iter().copied().collect();
            let id = if ready.is_empty() {
                let next = lock(&self.state).timers.keys().next().map(|(at, _)| *at);
                match next {
                    Some(at) => {
                        self.advance_to(at);
                        continue;
                    }
                    // Nothing ready and nothing will be: what is left waits forever.
                    None => return RunEnd::Quiescent,
                }
            } else {
                ready[self.below(ready.len() as u64) as usize]
            };
            lock(&self.state).ready.remove(&id);
            let Some(task) = tasks.get_mut(&id) else { continue };
            let waker = Waker::from(Arc::new(TaskWaker {
                id,
                state: self.state.clone(),
            }));
            if task.as_mut().poll(&mut Context::from_waker(&waker)).is_ready() {
                tasks.remove(&id);
            }
        }
        RunEnd::OutOfSteps
    }

    /// Gives newly spawned tasks ids and makes them ready.
    fn adopt(&self, tasks: &mut BTreeMap<usize, Task>) {
        let mut state = lock(&self.state);
        let spawned = std::mem::take(&mut state.spawned);
        for task in spawned {
            let id = state.next_id;
            state.next_id += 1;
            state.ready.insert(id);
            tasks.insert(id, task);
        }
    }

    fn advance_to(&self, at: OffsetDateTime) {
        {
            let mut clock = lock(&self.clock);
            if at > *clock {
                *clock = at;
            }
        }
        let now = self.now();
        let mut state = lock(&self.state);
        let due: Vec<(OffsetDateTime, usize)> = state
            .timers
            .range(..=(now, usize::MAX))
            .map(|(k, _)| *k)
            .collect();
        for key in due {
            if let Some(waker) = state.timers.remove(&key) {
                drop(state);
                waker.wake();
                state = lock(&self.state);
            }
        }
    }
}

struct YieldNow {
    yielded: bool,
}

impl Future for YieldNow {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.yielded {
            return Poll::Ready(());
        }
        self.yielded = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

struct Sleep {
    until: OffsetDateTime,
    seq: usize,
    clock: Arc<Mutex<OffsetDateTime>>,
    state: Arc<Mutex<State>>,
}

impl Future for Sleep {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if *lock(&self.clock) >= self.until {
            return Poll::Ready(());
        }
        lock(&self.state)
            .timers
            .insert((self.until, self.seq), cx.waker().clone());
        Poll::Pending
    }
}

struct Joined<T> {
    slot: Arc<Mutex<(Option<T>, Option<Waker>)>>,
}

impl<T> Future for Joined<T> {
    type Output = T;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let mut guard = lock(&self.slot);
        match guard.0.take() {
            Some(value) => Poll::Ready(value),
            None => {
                guard.1 = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}
