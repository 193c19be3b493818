//! Callback threads for the foreign faces: a library-owned thread per
//! subscription that takes items from a bounded stream and hands them to a
//! callback, one at a time. The network thread never waits on it: when the
//! callback is slow, the stream's bounded queue fills and further items are
//! dropped and counted where the stream is fed.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{JoinHandle, ThreadId};

use futures::channel::oneshot;
use futures::{FutureExt, Stream, StreamExt};

use hypar::BornIn;

/// A running callback thread. Stopping it (or dropping it) guarantees the
/// callback is not called again once `stop` returns, except when `stop` is
/// called by the callback itself: then the current call finishes and no
/// other follows.
pub(crate) struct CallbackThread {
    stopped: Arc<AtomicBool>,
    wake: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
    thread_id: ThreadId,
    /// In a `fork`ed child the thread does not exist.
    born: BornIn,
}

impl CallbackThread {
    /// Start a thread called `name` that calls `callback` with every item of
    /// `stream` until the stream ends or the delivery is stopped. A panic in
    /// the callback is logged and the next item is delivered as usual.
    pub(crate) fn spawn<S, T, F>(name: String, stream: S, mut callback: F) -> std::io::Result<CallbackThread>
    where
        S: Stream<Item = T> + Unpin + Send + 'static,
        T: Send + 'static,
        F: FnMut(T) + Send + 'static,
    {
        CallbackThread::spawn_batched(name, stream, 1, move |batch: Vec<T>| batch.into_iter().for_each(&mut callback))
    }

    /// Like [`CallbackThread::spawn`], but hands the callback every item already
    /// waiting, up to `max_batch` at a time, so that a foreign language whose
    /// calls are expensive pays once per batch rather than once per item.
    pub(crate) fn spawn_batched<S, T, F>(
        name: String,
        mut stream: S,
        max_batch: usize,
        mut callback: F,
    ) -> std::io::Result<CallbackThread>
    where
        S: Stream<Item = T> + Unpin + Send + 'static,
        T: Send + 'static,
        F: FnMut(Vec<T>) + Send + 'static,
    {
        let max_batch = max_batch.max(1);
        // Names come from topic names, which may hold any character; a NUL
        // would make the spawn fail.
        let name = name.replace('\0', " ");
        let stopped = Arc::new(AtomicBool::new(false));
        let (wake, mut woken) = oneshot::channel::<()>();
        let flag = stopped.clone();
        let thread = std::thread::Builder::new().name(name).spawn(move || {
            let mut deliver = |batch: Vec<T>| {
                if flag.load(Ordering::Acquire) {
                    return false;
                }
                if catch_unwind(AssertUnwindSafe(|| callback(batch))).is_err() {
                    tracing::error!("a delivery callback panicked; delivery goes on");
                }
                !flag.load(Ordering::Acquire)
            };
            loop {
                let next = futures::executor::block_on(async {
                    futures::select_biased! {
                        _ = woken => None,
                        item = stream.next().fuse() => item,
                    }
                });
                let Some(first) = next else { return };
                let mut batch = vec![first];
                // Take what is already queued without parking in between.
                loop {
                    while batch.len() < max_batch {
                        match stream.next().now_or_never() {
                            Some(Some(item)) => batch.push(item),
                            _ => break,
                        }
                    }
                    let full = batch.len() == max_batch;
                    if !deliver(std::mem::take(&mut batch)) {
                        return;
                    }
                    match full.then(|| stream.next().now_or_never()).flatten() {
                        Some(Some(item)) => batch.push(item),
                        _ => break,
                    }
                }
            }
        })?;
        let thread_id = thread.thread().id();
        Ok(CallbackThread { stopped, wake: Some(wake), thread: Some(thread), thread_id, born: BornIn::here() })
    }

    /// Stop delivering. From any thread but the delivery thread itself, waits
    /// for a callback in progress to return. Idempotent.
    pub(crate) fn stop(&mut self) {
        self.stopped.store(true, Ordering::Release);
        if let Some(wake) = self.wake.take() {
            let _ = wake.send(());
        }
        if let Some(thread) = self.thread.take() {
            if self.born.is_forked() {
                std::mem::forget(thread); // a fork child: the thread is not here
            } else if self.thread_id != std::thread::current().id() {
                let _ = thread.join();
            }
        }
    }
}

/// A callback thread that can be replaced or stopped from any thread, its
/// own callback included: the lock is never held while a thread is joined,
/// so a callback that calls back into its owner cannot deadlock against it.
#[derive(Default)]
pub(crate) struct CallbackSlot(parking_lot::Mutex<Option<CallbackThread>>);

impl CallbackSlot {
    pub(crate) fn new(thread: Option<CallbackThread>) -> Self {
        CallbackSlot(parking_lot::Mutex::new(thread))
    }

    /// Install `thread` (or none), stopping the one it replaces.
    pub(crate) fn replace(&self, thread: Option<CallbackThread>) {
        let old = std::mem::replace(&mut *self.0.lock(), thread);
        if let Some(mut old) = old {
            old.stop();
        }
    }

    /// Stop the thread, if any; see [`CallbackThread::stop`].
    pub(crate) fn stop(&self) {
        self.replace(None);
    }

    /// Whether a thread is installed (and was not stopped).
    pub(crate) fn is_running(&self) -> bool {
        self.0.lock().is_some()
    }
}

impl Drop for CallbackThread {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;
    use std::time::{Duration, Instant};

    use super::*;

    /// Poll `done` until it holds; fail after a generous deadline.
    fn wait_until(what: &str, done: impl Fn() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !done() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::yield_now();
        }
    }

    #[test]
    fn delivers_in_order_survives_panics_and_stops() {
        let (tx, rx) = futures::channel::mpsc::unbounded::<u32>();
        let seen = Arc::new(parking_lot::Mutex::new(Vec::new()));
        let s = seen.clone();
        let mut d = CallbackThread::spawn("test".into(), rx, move |x| {
            s.lock().push(x);
            assert_ne!(x, 2, "a panicking callback");
        })
        .unwrap();
        for i in 0..5 {
            tx.unbounded_send(i).unwrap();
        }
        wait_until("five deliveries", || seen.lock().len() == 5);
        assert_eq!(*seen.lock(), vec![0, 1, 2, 3, 4]);
        d.stop();
        // `stop` joined the thread, which owned the receiving end.
        assert!(tx.unbounded_send(9).is_err(), "the thread still runs after stop");
        assert_eq!(seen.lock().len(), 5, "delivered after stop");
    }

    #[test]
    fn a_name_with_a_nul_still_starts_a_thread() {
        let (_tx, rx) = futures::channel::mpsc::unbounded::<u32>();
        let mut d = CallbackThread::spawn("topic\0with a nul".into(), rx, |_| {}).expect("spawned");
        d.stop();
    }

    #[test]
    fn batches_keep_order_and_respect_their_bound() {
        let (tx, rx) = futures::channel::mpsc::unbounded::<u32>();
        for i in 0..1000 {
            tx.unbounded_send(i).unwrap();
        }
        let batches = Arc::new(parking_lot::Mutex::new(Vec::<Vec<u32>>::new()));
        let b = batches.clone();
        let _d = CallbackThread::spawn_batched("batched".into(), rx, 64, move |batch| b.lock().push(batch)).unwrap();
        wait_until("1000 items", || batches.lock().iter().map(Vec::len).sum::<usize>() == 1000);
        let batches = batches.lock();
        assert!(batches.iter().all(|b| !b.is_empty() && b.len() <= 64));
        assert!(batches.len() < 1000 / 8, "items queued together should arrive together: {} batches", batches.len());
        assert_eq!(batches.concat(), (0..1000).collect::<Vec<_>>());
    }

    #[test]
    fn a_callback_may_stop_its_own_thread() {
        let (tx, rx) = futures::channel::mpsc::unbounded::<u32>();
        let slot: Arc<CallbackSlot> = Arc::default();
        let calls = Arc::new(AtomicUsize::new(0));
        let (s, c) = (slot.clone(), calls.clone());
        let d = CallbackThread::spawn("self-stop".into(), rx, move |_| {
            c.fetch_add(1, Ordering::SeqCst);
            s.stop();
        })
        .unwrap();
        slot.replace(Some(d));
        for i in 0..3 {
            tx.unbounded_send(i).unwrap();
        }
        // The thread ends after the first call and drops the receiving end.
        wait_until("the thread to end", || tx.is_closed());
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert!(!slot.is_running());
    }
}
