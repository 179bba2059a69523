//! Decode turns: a pager that keeps many pages in flight but hands them out in order lets each page's
//! JSON body wait as bytes until the page is close to its turn, so only a few pages are ever held as
//! parsed documents (a parsed page costs about twice its body).
//!
//! The pager owns a [`TurnQueue`], gives each page's fetch task a [`Turn`] with [`Turn::scope`], and
//! calls [`TurnQueue::take`] as it takes each page in order. The client reads the task's turn when a
//! JSON body has arrived, after the request's concurrency permit is released (so a waiting body never
//! holds back the requests it waits for), and decodes the body once the turn is reached. A request
//! made outside such a scope decodes at once.

use std::future::Future;

use tokio::sync::watch;

tokio::task_local! {
    static TURN: Turn;
}

/// A page's place in its pager's order: its body is decoded once `at` pages have been taken.
#[derive(Debug, Clone)]
pub struct Turn {
    taken: watch::Receiver<u64>,
    at: u64,
}

impl Turn {
    /// Runs `future` with this turn: the JSON bodies its requests receive wait for it.
    pub fn scope<F: Future>(self, future: F) -> impl Future<Output = F::Output> {
        TURN.scope(self, future)
    }

    async fn reached(mut self) {
        // A dropped queue (the pager is gone) releases every turn.
        let at = self.at;
        let _ = self.taken.wait_for(|&taken| taken >= at).await;
    }
}

/// Waits until the current task's turn is reached; at once outside a [`Turn::scope`].
pub(crate) async fn wait_for_turn() {
    if let Ok(turn) = TURN.try_with(Turn::clone) {
        turn.reached().await;
    }
}

/// The ordered side: hands out turns and counts the pages taken.
#[derive(Debug)]
pub struct TurnQueue {
    taken: watch::Sender<u64>,
    ahead: u64,
}

impl TurnQueue {
    /// A queue that lets `ahead` pages past the next one to be taken decode early (0: only the next).
    pub fn new(ahead: usize) -> Self {
        Self {
            taken: watch::Sender::new(0),
            ahead: ahead as u64,
        }
    }

    /// The turn of the page `position` places after the next one to be taken (0: the next one).
    pub fn turn(&self, position: u64) -> Turn {
        let taken = *self.taken.borrow();
        Turn {
            taken: self.taken.subscribe(),
            at: (taken + position).saturating_sub(self.ahead),
        }
    }

    /// Records that the next page was taken, letting one more page decode.
    pub fn take(&self) {
        self.taken.send_modify(|taken| *taken += 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[tokio::test]
    async fn bodies_decode_in_order_and_at_most_ahead_pages_early() {
        let queue = TurnQueue::new(1);
        let decoded = Arc::new(Mutex::new(Vec::new()));
        let tasks: Vec<_> = (0..4u64)
            .map(|i| {
                let decoded = Arc::clone(&decoded);
                tokio::spawn(queue.turn(i).scope(async move {
                    wait_for_turn().await;
                    decoded.lock().unwrap().push(i);
                }))
            })
            .collect();
        tokio::task::yield_now().await;
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        // The next page and one more: pages 0 and 1; 2 and 3 wait as bytes.
        let early = |d: &Arc<Mutex<Vec<u64>>>| {
            let mut v = d.lock().unwrap().clone();
            v.sort_unstable();
            v
        };
        assert_eq!(early(&decoded), vec![0, 1]);
        queue.take();
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        assert_eq!(early(&decoded), vec![0, 1, 2]);
        drop(queue);
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(
            early(&decoded),
            vec![0, 1, 2, 3],
            "a dropped queue releases every turn"
        );
        // Outside a scope nothing waits.
        wait_for_turn().await;
    }
}
