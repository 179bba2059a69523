//! `postgres` under the compliance suite: the source is a throwaway PostgreSQL cluster (tests/cdc/)
//! with two tables of several types; the truth is what PostgreSQL itself returns (`row_to_json`);
//! `advance` updates, deletes and inserts rows in many transactions. There is no simulator, so the
//! fault checks do not apply; kills at checkpoints, refused credentials and changes do.

use std::collections::HashMap;
use std::sync::Arc;

use futures::future::BoxFuture;

use crate::cdc_support::{self, PgServer};
use fivetran_source::compliance::{Sim, Subject, Truth};
use fivetran_source::sdk::DynConnector;
use fivetran_source::simulator::SimControl;

/// The PostgreSQL connector against a throwaway cluster.
pub struct PostgresSubject;

impl Subject for PostgresSubject {
    fn name(&self) -> &'static str {
        "postgres"
    }

    fn connector(&self) -> Arc<dyn DynConnector> {
        Arc::new(fivetran_source::connectors::postgres::Postgres)
    }

    fn start(&self, seed: u64) -> BoxFuture<'static, Box<dyn Sim>> {
        Box::pin(async move {
            let server = tokio::task::spawn_blocking(move || {
                let server = PgServer::start().expect("skip_reason said the binaries are here");
                let rows = 150 + seed % 50;
                server.script(&format!(
                    "CREATE TABLE accounts (id integer PRIMARY KEY, name text, balance numeric(14,2), opened date, \
                       seen timestamptz, active boolean, tags text[], meta jsonb); \
                     CREATE TABLE ledger (account_id integer, line integer, amount bigint, note text, \
                       PRIMARY KEY (account_id, line)); \
                     INSERT INTO accounts SELECT g, 'account ' || g, (g * 7.25)::numeric(14,2), \
                       DATE '2020-01-01' + g, TIMESTAMPTZ '2024-01-01 00:00:00+00' + g * interval '1 minute', \
                       g % 3 = 0, ARRAY['t' || (g % 4)], jsonb_build_object('g', g) FROM generate_series(1, {rows}) g; \
                     INSERT INTO ledger SELECT a, l, a * 100 + l, 'line ' || l FROM generate_series(1, 40) a, generate_series(1, 3) l; \
                     CREATE PUBLICATION fivetran_pub FOR ALL TABLES; \
                     GRANT SELECT ON ALL TABLES IN SCHEMA public TO {};",
                    cdc_support::CDC_USER
                ));
                server
            })
            .await
            .expect("the server starts");
            Box::new(PostgresSource {
                server: Arc::new(server),
                round: std::sync::atomic::AtomicU64::new(0),
            }) as Box<dyn Sim>
        })
    }

    fn credentials_advice(&self) -> Option<&'static str> {
        Some("check the user and password")
    }

    fn skip_reason(&self) -> Option<String> {
        cdc_support::postgres_unavailable()
    }
}

struct PostgresSource {
    server: Arc<PgServer>,
    round: std::sync::atomic::AtomicU64,
}

impl Sim for PostgresSource {
    fn configuration(&self) -> HashMap<String, String> {
        self.server.configuration()
    }

    fn bad_credentials(&self) -> HashMap<String, String> {
        let mut config = self.configuration();
        config.insert("password".into(), "not-the-password".into());
        config
    }

    fn control(&self) -> Option<&SimControl> {
        None
    }

    fn truth(&self) -> Truth {
        // No BYTEA, float or infinite values here: PostgreSQL's JSON of each row is the truth as is.
        self.server.truth(
            None,
            &[("accounts", "public.accounts"), ("ledger", "public.ledger")],
        )
    }

    fn advance(&self) -> bool {
        let round = self.round.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let mut script = String::new();
        for i in 0..60u64 {
            let id = 1 + (i * 7 + round) % 140;
            script.push_str(&format!(
                "UPDATE accounts SET balance = balance + 1, active = NOT active WHERE id = {id};\n"
            ));
        }
        script.push_str(&format!(
            "DELETE FROM accounts WHERE id % 17 = {}; DELETE FROM ledger WHERE line = 2 AND account_id < 10;\n\
             INSERT INTO accounts (id, name) SELECT g, 'new ' || g FROM generate_series(1000 + {r} * 100, 1010 + {r} * 100) g;\n\
             UPDATE ledger SET amount = -amount WHERE account_id = 20;\n",
            round % 17,
            r = round
        ));
        self.server.script(&script);
        true
    }
}
