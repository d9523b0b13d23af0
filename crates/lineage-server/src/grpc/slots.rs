//! The query slots: how many queries are computed at once, and a bounded
//! queue for the ones that wait for a slot.
//!
//! Without a bound on the queue, a burst of queries beyond what the slots
//! can serve waits as long as it takes: every caller's latency grows with
//! the burst, and past a client's deadline tonic answers CANCELLED
//! ("Timeout expired"), which says nothing of overload. So a query that
//! finds the queue full, or waits longer than [`SLOT_WAIT`] for a slot, is
//! refused with RESOURCE_EXHAUSTED at once: the service is overloaded, and
//! the client should retry with backoff. Queries are themselves bounded
//! (visits, nodes, pages), so a slot held for seconds means a backlog, not
//! one slow query.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::ApiError;

/// Queries that may wait for a slot, per slot (1,024 with the default 16
/// slots): a backlog of about a second of small queries.
const WAITERS_PER_SLOT: usize = 64;

/// The longest a query waits for a slot (less if the service's request
/// timeout is short): long enough to ride out a burst, short enough that
/// the refusal, not tonic's timeout, answers a client with a deadline of a
/// few seconds.
const SLOT_WAIT: Duration = Duration::from_secs(2);

/// Bounds the queries computed at once and those waiting for a slot.
#[derive(Debug)]
pub(super) struct QuerySlots {
    slots: Arc<Semaphore>,
    count: usize,
    /// Queries waiting for a slot now.
    waiting: AtomicUsize,
    /// The most that may wait; one more is refused at once.
    max_waiting: usize,
    /// The longest one may wait.
    max_wait: Duration,
}

impl QuerySlots {
    /// `count` slots, for a service whose requests time out after
    /// `request_timeout`.
    pub(super) fn new(count: usize, request_timeout: Duration) -> Self {
        let count = count.max(1);
        Self {
            slots: Arc::new(Semaphore::new(count)),
            count,
            waiting: AtomicUsize::new(0),
            max_waiting: count.saturating_mul(WAITERS_PER_SLOT),
            max_wait: SLOT_WAIT.min(request_timeout.mul_f64(0.9)),
        }
    }

    /// A slot, at once if one is free; else after waiting in the queue, if
    /// it has room and a slot comes free in time: within the longest wait,
    /// and within 0.9 of the client's `deadline` (so that the refusal, not
    /// the transport's timeout, answers it). RESOURCE_EXHAUSTED otherwise.
    pub(super) async fn acquire(
        &self,
        deadline: Option<Duration>,
    ) -> Result<OwnedSemaphorePermit, ApiError> {
        if let Ok(slot) = self.slots.clone().try_acquire_owned() {
            return Ok(slot);
        }
        let ahead = self.waiting.fetch_add(1, Ordering::AcqRel);
        let _waiting = Waiting(&self.waiting);
        if ahead >= self.max_waiting {
            return Err(ApiError::Busy(format!(
                "{ahead} queries are already waiting for the {} query slots; \
                 the service is overloaded, retry with backoff",
                self.count
            )));
        }
        let max_wait = deadline.map_or(self.max_wait, |deadline| {
            self.max_wait.min(deadline.mul_f64(0.9))
        });
        match tokio::time::timeout(max_wait, self.slots.clone().acquire_owned()).await {
            Ok(Ok(slot)) => Ok(slot),
            Ok(Err(_)) => Err(ApiError::Internal("the query slots were closed".into())),
            Err(_) => Err(ApiError::Busy(format!(
                "no query slot came free within {} ms; the service is overloaded, \
                 retry with backoff",
                max_wait.as_millis()
            ))),
        }
    }
}

/// One place in the queue, given back however the wait ends (a slot, a
/// refusal, or the caller going away).
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_busy(result: &Result<OwnedSemaphorePermit, ApiError>) -> bool {
        matches!(result, Err(ApiError::Busy(_)))
    }

    #[tokio::test(start_paused = true)]
    async fn a_free_slot_is_taken_at_once_and_a_wait_is_bounded_in_time() {
        let slots = QuerySlots::new(1, Duration::from_secs(30));
        let held = slots.acquire(None).await.expect("a free slot");
        let started = tokio::time::Instant::now();
        let refused = slots.acquire(None).await;
        assert!(is_busy(&refused), "{refused:?}");
        assert_eq!(started.elapsed(), SLOT_WAIT);
        assert_eq!(slots.waiting.load(Ordering::Acquire), 0);
        drop(held);
        drop(slots.acquire(None).await.expect("the slot came back"));
    }

    #[tokio::test(start_paused = true)]
    async fn a_short_request_timeout_shortens_the_wait() {
        let slots = QuerySlots::new(1, Duration::from_secs(1));
        let _held = slots.acquire(None).await.expect("a free slot");
        let started = tokio::time::Instant::now();
        assert!(is_busy(&slots.acquire(None).await));
        assert_eq!(started.elapsed(), Duration::from_millis(900));
    }

    #[tokio::test(start_paused = true)]
    async fn a_client_deadline_shortens_the_wait() {
        let slots = QuerySlots::new(1, Duration::from_secs(30));
        let _held = slots.acquire(None).await.expect("a free slot");
        let started = tokio::time::Instant::now();
        let refused = slots.acquire(Some(Duration::from_millis(500))).await;
        assert!(is_busy(&refused), "{refused:?}");
        assert_eq!(started.elapsed(), Duration::from_millis(450));
        // A deadline longer than the longest wait does not lengthen it.
        let started = tokio::time::Instant::now();
        assert!(is_busy(&slots.acquire(Some(Duration::from_secs(60))).await));
        assert_eq!(started.elapsed(), SLOT_WAIT);
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_queue_refuses_at_once_and_a_waiter_gets_the_slot_freed() {
        let slots = Arc::new(QuerySlots::new(1, Duration::from_secs(30)));
        let held = slots.acquire(None).await.expect("a free slot");
        let waiters: Vec<_> = (0..WAITERS_PER_SLOT)
            .map(|_| {
                let slots = slots.clone();
                tokio::spawn(async move { slots.acquire(None).await.map(drop) })
            })
            .collect();
        // Let every waiter take its place in the queue.
        while slots.waiting.load(Ordering::Acquire) < WAITERS_PER_SLOT {
            tokio::task::yield_now().await;
        }
        let started = tokio::time::Instant::now();
        assert!(is_busy(&slots.acquire(None).await), "the queue is full");
        assert_eq!(started.elapsed(), Duration::ZERO, "refused without waiting");
        drop(held);
        let mut served = 0;
        for waiter in waiters {
            if waiter.await.expect("no panic").is_ok() {
                served += 1;
            }
        }
        // The slot is handed from waiter to waiter, each dropping it at once.
        assert_eq!(served, WAITERS_PER_SLOT);
        assert_eq!(slots.waiting.load(Ordering::Acquire), 0);
    }
}
