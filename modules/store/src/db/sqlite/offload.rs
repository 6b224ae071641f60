//! Where a SQLite statement runs. diesel-async runs each statement of a
//! synchronous connection on tokio's blocking pool (two thread hand-offs,
//! several times the cost of a small query); inside an in-place unit
//! ([`crate::DbConn::atomically`]) the thread has already left the async
//! workers, and statements run right there.

use futures_util::FutureExt;

thread_local! {
    /// Set while [`DbConn::atomically`] runs a body on this thread: SQLite
    /// statements then run in place instead of hopping to the blocking pool.
    pub(crate) static RUN_IN_PLACE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Where a SQLite statement runs: on tokio's blocking pool (one hand-off
/// there and back per statement), or in place on the current thread when
/// that thread has already left the async workers (see
/// [`DbConn::atomically`]).
#[derive(Debug)]
pub struct Offload(tokio::runtime::Handle);

impl diesel_async::sync_connection_wrapper::SpawnBlocking for Offload {
    fn spawn_blocking<'a, R>(
        &mut self,
        task: impl FnOnce() -> R + Send + 'static,
    ) -> futures_util::future::BoxFuture<
        'a,
        Result<R, Box<dyn std::error::Error + Send + Sync + 'static>>,
    >
    where
        R: Send + 'static,
    {
        if RUN_IN_PLACE.get() {
            return futures_util::future::ready(Ok(task())).boxed();
        }
        let task = Offloaded(Some(self.0.spawn_blocking(task)));
        task.boxed()
    }

    fn get_runtime() -> Self {
        Offload(tokio::runtime::Handle::current())
    }
}

/// A statement running on the blocking pool. Dropped before it ends (the
/// caller was cancelled), it waits for the statement, so the connection
/// goes back to the pool idle rather than mid-statement.
struct Offloaded<R>(Option<tokio::task::JoinHandle<R>>);

impl<R> std::future::Future for Offloaded<R> {
    type Output = Result<R, Box<dyn std::error::Error + Send + Sync + 'static>>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        let Some(handle) = self.0.as_mut() else {
            return std::task::Poll::Ready(Err("statement already finished".into()));
        };
        match std::pin::Pin::new(handle).poll(cx) {
            std::task::Poll::Ready(r) => {
                self.0 = None;
                std::task::Poll::Ready(r.map_err(Box::from))
            }
            std::task::Poll::Pending => std::task::Poll::Pending,
        }
    }
}

impl<R> Drop for Offloaded<R> {
    fn drop(&mut self) {
        if let Some(handle) = self.0.take()
            && !handle.is_finished()
            && let Ok(rt) = tokio::runtime::Handle::try_current()
            && rt.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread
        {
            tokio::task::block_in_place(|| {
                let _ = rt.block_on(handle);
            });
        }
    }
}

/// Runs `fut` to completion on this thread. Used for a body whose every
/// statement runs in place (so it is ready at once); anything it still
/// waits for (a statement on another thread) wakes this thread.
pub(crate) fn run_here<F: std::future::Future>(fut: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl std::task::Wake for Unpark {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = std::task::Waker::from(std::sync::Arc::new(Unpark(std::thread::current())));
    let mut cx = std::task::Context::from_waker(&waker);
    let mut fut = std::pin::pin!(fut);
    loop {
        if let std::task::Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::park_timeout(std::time::Duration::from_millis(1));
    }
}

/// Runs `f` with this thread's SQLite statements in place (see
/// [`crate::DbConn::atomically`]): under a multi-threaded runtime the
/// worker first hands its other tasks over (`block_in_place`); on a
/// current-thread runtime (each actix worker) `f` simply runs on the
/// worker, as CPU work would.
pub(crate) fn in_place<R>(f: impl FnOnce() -> R) -> R {
    if RUN_IN_PLACE.get() {
        return f();
    }
    let multi = tokio::runtime::Handle::try_current()
        .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
    if multi {
        tokio::task::block_in_place(|| {
            let _in_place = InPlace::enter();
            f()
        })
    } else {
        let _in_place = InPlace::enter();
        f()
    }
}

/// Marks the current thread as running statements in place, until dropped.
pub(crate) struct InPlace;

impl InPlace {
    pub(crate) fn enter() -> Self {
        RUN_IN_PLACE.set(true);
        InPlace
    }
}

impl Drop for InPlace {
    fn drop(&mut self) {
        RUN_IN_PLACE.set(false);
    }
}
