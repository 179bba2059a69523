//! The shared HTTP layer every API connector uses: one client, auth, classification, retries, rate budget.
