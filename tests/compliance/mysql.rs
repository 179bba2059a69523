//! `mysql` under the compliance suite: the source is a throwaway MariaDB server (tests/cdc/) with a table
//! of every type and two more; the truth is what MariaDB itself returns (`JSON_OBJECT`); `advance`
//! updates, deletes and inserts rows in many transactions. There is no simulator, so the fault checks
//! do not apply; kills at checkpoints, refused credentials and changes do.

use std::collections::HashMap;
use std::sync::Arc;

use futures::future::BoxFuture;

use crate::cdc_support::{self, MariaServer};
use fivetran_source::compliance::{Sim, Subject, Truth};
use fivetran_source::sdk::DynConnector;
use fivetran_source::simulator::SimControl;

/// The MySQL connector against a throwaway MariaDB server.
pub struct MysqlSubject;

impl Subject for MysqlSubject {
    fn name(&self) -> &'static str {
        "mysql"
    }

    fn connector(&self) -> Arc<dyn DynConnector> {
        Arc::new(fivetran_source::connectors::mysql::Mysql)
    }

    fn start(&self, seed: u64) -> BoxFuture<'static, Box<dyn Sim>> {
        Box::pin(async move {
            let server = tokio::task::spawn_blocking(move || {
                let server = MariaServer::start().expect("skip_reason said the binaries are here");
                let rows = 150 + seed % 50;
                server.script(&format!(
                    "CREATE TABLE accounts (id int PRIMARY KEY, name varchar(40), balance decimal(14,2), opened date, \
                       seen timestamp NULL, active tinyint(1), kind enum('a','b','c'), meta json, raw varbinary(8)); \
                     CREATE TABLE ledger (account_id int, line int, amount bigint unsigned, note text, \
                       PRIMARY KEY (account_id, line)); \
                     INSERT INTO accounts SELECT seq, CONCAT('account ', seq), seq * 7.25, '2020-01-01' + INTERVAL seq DAY, \
                       '2024-01-01 00:00:00' + INTERVAL seq MINUTE, seq % 3 = 0, ELT(1 + seq % 3, 'a', 'b', 'c'), \
                       JSON_OBJECT('g', seq), UNHEX(HEX(seq)) FROM seq_1_to_{rows}; \
                     INSERT INTO ledger SELECT a.seq, l.seq, a.seq * 100 + l.seq, CONCAT('line ', l.seq) \
                       FROM seq_1_to_40 a, seq_1_to_3 l;"
                ));
                server.script(cdc_support::MARIADB_EVERY_TYPE_SQL);
                server
            })
            .await
            .expect("the server starts");
            Box::new(MysqlSource {
                server: Arc::new(server),
                round: std::sync::atomic::AtomicU64::new(0),
            }) as Box<dyn Sim>
        })
    }

    fn credentials_advice(&self) -> Option<&'static str> {
        Some("check the user and password")
    }

    fn skip_reason(&self) -> Option<String> {
        cdc_support::mariadb_unavailable()
    }
}

struct MysqlSource {
    server: Arc<MariaServer>,
    round: std::sync::atomic::AtomicU64,
}

impl Sim for MysqlSource {
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
        self.server.truth(&["accounts", "ledger", "every_type"])
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
             INSERT INTO accounts (id, name) SELECT seq, CONCAT('new ', seq) FROM seq_{}_to_{};\n\
             UPDATE ledger SET amount = amount + 1 WHERE account_id = 20;\n",
            round % 17,
            1000 + round * 100,
            1010 + round * 100
        ));
        self.server.script(&script);
        true
    }
}
