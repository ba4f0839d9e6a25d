//! The scheduler every command runs on: items are claimed in order by a
//! pool of workers, and their results are handed to the calling thread in
//! item order; at most a small window of items is in flight, so memory is
//! bounded by the number of workers, not by the dataset, and what is
//! written does not depend on the thread count.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, mpsc};

/// Told about progress, one item at a time (the CLI draws a bar with it).
pub trait Progress: Sync {
    /// The number of items about to be processed.
    fn start(&self, _total: u64) {}
    /// One more item done.
    fn advance(&self) {}
    /// All done (or stopped).
    fn finish(&self) {}
}

/// A [`Progress`] that ignores everything.
pub struct NoProgress;
impl Progress for NoProgress {}

/// How a run behaves.
#[derive(Clone, Copy)]
pub struct RunOptions<'a> {
    /// Worker threads; `None` = as many as rayon's global pool has (one per
    /// core, or what the binary's `-j` set it to).
    pub threads: Option<usize>,
    /// Progress receiver.
    pub progress: &'a dyn Progress,
}

impl Default for RunOptions<'_> {
    fn default() -> Self {
        RunOptions {
            threads: None,
            progress: &NoProgress,
        }
    }
}

/// The most worker threads a run uses, whatever `-j` asks for.
pub const MAX_THREADS: usize = 256;

/// What the workers and the consumer share: how many results have been
/// consumed and whether the run is stopping, under one lock so that no
/// wake-up is missed.
struct Gate {
    state: Mutex<(usize, bool)>,
    room: Condvar,
}

impl Gate {
    fn lock(&self) -> std::sync::MutexGuard<'_, (usize, bool)> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Waits until item `index` is within `window` of the consumer; false if stopping.
    fn wait_for_room(&self, index: usize, window: usize) -> bool {
        let mut state = self.lock();
        while index >= state.0 + window && !state.1 {
            state = self
                .room
                .wait(state)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
        !state.1
    }

    fn set_consumed(&self, consumed: usize) {
        self.lock().0 = consumed;
        self.room.notify_all();
    }

    fn stop(&self) {
        self.lock().1 = true;
        self.room.notify_all();
    }

    fn stopped(&self) -> bool {
        self.lock().1
    }
}

/// Stops the run when dropped during a panic, so that no worker waits
/// forever and the panic reaches the caller.
struct StopOnPanic<'a>(&'a Gate);

impl Drop for StopOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.stop();
        }
    }
}

/// How many workers [`for_each_ordered`] runs for `count` items.
pub fn worker_count(run: RunOptions, count: usize) -> usize {
    run.threads
        .unwrap_or_else(rayon::current_num_threads)
        .clamp(1, MAX_THREADS)
        .min(count.max(1))
}

/// Runs `work(i)` for `i in 0..count` on a pool of `run.threads` workers and
/// hands each result to `consume` on the calling thread, in index order.
/// `consume` returning `false` stops the run (items in flight are dropped).
/// Workers claim indices in order and wait while more than a few results are
/// waiting to be consumed, so memory stays bounded. A panic in `work` or
/// `consume` stops the run and is passed on to the caller.
pub fn for_each_ordered<T, W, C>(count: usize, run: RunOptions, work: W, mut consume: C)
where
    T: Send,
    W: Fn(usize) -> T + Sync,
    C: FnMut(usize, T) -> bool,
{
    let threads = worker_count(run, count);
    let window = threads * 2;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("maskconv-{i}"))
        .build()
        .expect("a thread pool can be built");
    let next = AtomicUsize::new(0);
    let gate = Gate {
        state: Mutex::new((0, false)),
        room: Condvar::new(),
    };
    let (sender, receiver) = mpsc::channel::<(usize, T)>();
    run.progress.start(count as u64);
    pool.in_place_scope(|scope| {
        for _ in 0..threads {
            let sender = sender.clone();
            let (next, gate, work) = (&next, &gate, &work);
            scope.spawn(move |_| {
                let _stop_on_panic = StopOnPanic(gate);
                loop {
                    let index = next.fetch_add(1, Ordering::SeqCst);
                    if index >= count || !gate.wait_for_room(index, window) {
                        break;
                    }
                    if sender.send((index, work(index))).is_err() {
                        break;
                    }
                }
            });
        }
        drop(sender);
        let _stop_on_panic = StopOnPanic(&gate);
        let mut pending: BTreeMap<usize, T> = BTreeMap::new();
        let mut expected = 0usize;
        for (index, result) in receiver {
            if gate.stopped() {
                continue; // drain what workers still send
            }
            pending.insert(index, result);
            while let Some(result) = pending.remove(&expected) {
                let go_on = consume(expected, result);
                expected += 1;
                run.progress.advance();
                if !go_on {
                    pending.clear();
                    gate.stop();
                    break;
                }
                gate.set_consumed(expected);
            }
        }
    });
    run.progress.finish();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_arrive_in_order_whatever_the_thread_count() {
        for threads in [1, 2, 4] {
            let mut seen = Vec::new();
            let run = RunOptions {
                threads: Some(threads),
                ..RunOptions::default()
            };
            for_each_ordered(
                50,
                run,
                |i| {
                    std::thread::sleep(std::time::Duration::from_micros(
                        ((i * 7919) % 13) as u64 * 50,
                    ));
                    i * 10
                },
                |i, r| {
                    seen.push((i, r));
                    true
                },
            );
            assert_eq!(seen, (0..50).map(|i| (i, i * 10)).collect::<Vec<_>>());
        }
    }

    #[test]
    fn a_panicking_item_ends_the_run_instead_of_hanging_it() {
        for _ in 0..20 {
            let run = RunOptions {
                threads: Some(2),
                ..RunOptions::default()
            };
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                for_each_ordered(
                    1000,
                    run,
                    |i| {
                        assert!(i != 5, "item 5 is broken");
                        i
                    },
                    |_, _| true,
                )
            }));
            assert!(outcome.is_err());
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                for_each_ordered(
                    1000,
                    run,
                    |i| i,
                    |i, _| {
                        assert!(i != 7, "consumer fails at 7");
                        true
                    },
                )
            }));
            assert!(outcome.is_err());
        }
    }

    #[test]
    fn stopping_ends_the_run_early() {
        for _ in 0..50 {
            assert_stops_early();
        }
    }

    fn assert_stops_early() {
        let done = AtomicUsize::new(0);
        let mut consumed = 0;
        let run = RunOptions {
            threads: Some(2),
            ..RunOptions::default()
        };
        for_each_ordered(
            10_000,
            run,
            |_| done.fetch_add(1, Ordering::SeqCst),
            |i, _| {
                consumed += 1;
                i < 3
            },
        );
        assert_eq!(consumed, 4);
        assert!(done.load(Ordering::SeqCst) < 100, "workers kept going");
    }
}
