//! Threads that sign ID tokens.
//!
//! An RS256 signature takes about half a millisecond of CPU with ring on
//! the reference machine: the biggest single piece of a code flow. Signed
//! on an HTTP worker, it holds up every other request of that worker's
//! connections for that long, while the other cores may have nothing to do.
//! Signed here, on as many threads as there are cores, the HTTP workers stay
//! free for the short work (parsing, SQLite) and the scheduler spreads the
//! signatures over whichever cores are idle.

use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};

type Job = Box<dyn FnOnce() + Send>;

/// How many signatures may wait before callers sign on their own thread.
const QUEUE: usize = 4096;

/// The signing threads. They end when this is dropped.
pub(crate) struct Signers {
    jobs: SyncSender<Job>,
}

impl std::fmt::Debug for Signers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Signers")
    }
}

impl Signers {
    /// Starts one signing thread per core.
    pub(crate) fn start() -> Self {
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        let (jobs, queue) = std::sync::mpsc::sync_channel::<Job>(QUEUE);
        let queue = Arc::new(Mutex::new(queue));
        for i in 0..threads {
            let queue = queue.clone();
            let started = std::thread::Builder::new()
                .name(format!("clavis-sign-{i}"))
                .spawn(move || {
                    yield_to_workers();
                    work(&queue)
                });
            if let Err(e) = started {
                // Fewer threads (or none: then callers sign themselves).
                tracing::warn!(error = %e, "cannot start a signing thread");
            }
        }
        Signers { jobs }
    }

    /// Runs `f` on a signing thread and waits for it without blocking the
    /// caller's thread. When the queue is full or no thread is left, runs
    /// `f` right here instead: a signature is never refused.
    pub(crate) async fn run<R: Send + 'static>(&self, f: impl FnOnce() -> R + Send + 'static) -> R {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let f = Arc::new(Mutex::new(Some(f)));
        let job_f = f.clone();
        let job: Job = Box::new(move || {
            let taken = job_f.lock().unwrap_or_else(|p| p.into_inner()).take();
            if let Some(f) = taken {
                let _ = tx.send(f());
            }
        });
        match self.jobs.try_send(job) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {}
        }
        if let Ok(r) = rx.await {
            return r;
        }
        // Not queued, or its thread died before running it: sign here.
        let taken = f.lock().unwrap_or_else(|p| p.into_inner()).take();
        match taken {
            Some(f) => f(),
            // Taken by a thread that then panicked: that is a bug of `f`,
            // which would panic here just the same.
            None => unreachable_signer(),
        }
    }
}

#[cold]
fn unreachable_signer() -> ! {
    panic!("a signing job panicked")
}

/// Signing threads run at a lower priority (nice 10) than the HTTP
/// workers: a worker woken by a request gets a core at once instead of
/// waiting for a signature to finish, and a worker holding SQLite's write
/// turn is not preempted by a signature (which would make every other
/// writer wait). Signatures use whatever CPU the workers leave.
fn yield_to_workers() {
    #[cfg(target_os = "linux")]
    if let Err(e) = rustix::process::setpriority_process(Some(rustix::thread::gettid()), NICE) {
        tracing::debug!(error = %e, "signing thread keeps its priority");
    }
}

/// The niceness of the signing threads.
#[cfg(target_os = "linux")]
const NICE: i32 = 10;

fn work(queue: &Mutex<Receiver<Job>>) {
    loop {
        let job = {
            let queue = queue.lock().unwrap_or_else(|p| p.into_inner());
            queue.recv()
        };
        match job {
            // A panicking job loses its own answer (its caller then signs
            // itself), not the thread.
            Ok(job) => {
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
            }
            // Every sender is gone: the provider was dropped.
            Err(_) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "current_thread")]
    async fn runs_on_a_signing_thread_and_answers() {
        let signers = Signers::start();
        let name = signers
            .run(|| std::thread::current().name().map(str::to_string))
            .await;
        assert!(
            name.as_deref()
                .is_some_and(|n| n.starts_with("clavis-sign-")),
            "{name:?}"
        );
        let sum = signers.run(|| (1..=10).sum::<u32>()).await;
        assert_eq!(sum, 55);
        #[cfg(target_os = "linux")]
        {
            let nice = signers
                .run(|| rustix::process::getpriority_process(Some(rustix::thread::gettid())))
                .await
                .expect("niceness");
            assert_eq!(nice, NICE, "signing threads yield to the HTTP workers");
        }
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_full_queue_signs_on_the_caller() {
        let signers = Signers::start();
        // Keep every signing thread busy until released.
        let gate = Arc::new(std::sync::Barrier::new(
            std::thread::available_parallelism().map_or(2, |n| n.get()) + 1,
        ));
        let mut blocked = Vec::new();
        for _ in 0..std::thread::available_parallelism().map_or(2, |n| n.get()) {
            let gate = gate.clone();
            let (tx, rx) = tokio::sync::oneshot::channel::<()>();
            signers
                .jobs
                .try_send(Box::new(move || {
                    gate.wait();
                    let _ = tx.send(());
                }))
                .expect("queued");
            blocked.push(rx);
        }
        // Fill the queue.
        let mut filled = 0;
        while signers.jobs.try_send(Box::new(|| {})).is_ok() {
            filled += 1;
        }
        assert!(filled <= QUEUE);
        let here = std::thread::current().id();
        let ran_on = signers.run(move || std::thread::current().id()).await;
        assert_eq!(ran_on, here, "a full queue runs the job on the caller");
        gate.wait();
        for rx in blocked {
            rx.await.expect("released");
        }
    }
}
