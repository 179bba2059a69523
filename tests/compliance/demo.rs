//! `demo` under the compliance suite: its source is the connector itself (deterministic items), so the
//! truth of a first sync is the items it is configured to create. It changes with every sync by design
//! (each sync updates and deletes earlier items), so resuming is not a repeat of the source: the suite
//! checks the first sync only.

use std::collections::HashMap;
use std::sync::Arc;

use futures::future::BoxFuture;
use serde_json::json;

use fivetran_source::compliance::{Sim, Subject, Truth};
use fivetran_source::sdk::DynConnector;
use fivetran_source::simulator::SimControl;

/// Items a compliance sync creates.
const ITEMS: u64 = 250;

/// The demo connector.
pub struct DemoSubject;

impl Subject for DemoSubject {
    fn name(&self) -> &'static str {
        "demo"
    }

    fn connector(&self) -> Arc<dyn DynConnector> {
        Arc::new(fivetran_source::connectors::demo::Demo)
    }

    fn start(&self, _seed: u64) -> BoxFuture<'static, Box<dyn Sim>> {
        Box::pin(async { Box::new(DemoSource) as Box<dyn Sim> })
    }

    fn resumable(&self) -> bool {
        false
    }
}

struct DemoSource;

impl Sim for DemoSource {
    fn configuration(&self) -> HashMap<String, String> {
        [
            ("record_count".to_owned(), ITEMS.to_string()),
            ("checkpoint_every".to_owned(), "50".to_owned()),
        ]
        .into()
    }

    fn bad_credentials(&self) -> HashMap<String, String> {
        self.configuration()
    }

    fn control(&self) -> Option<&SimControl> {
        None
    }

    fn truth(&self) -> Truth {
        let items = (0..ITEMS)
            .map(|id| {
                let row = fivetran_source::connectors::demo::item(id, 0);
                [
                    ("id".to_owned(), json!(id)),
                    ("name".to_owned(), json!(format!("item-{id}"))),
                    ("revision".to_owned(), json!(0)),
                    ("active".to_owned(), json!(id % 3 != 0)),
                ]
                .into_iter()
                .filter(|(c, _)| row.get(c).is_some())
                .collect()
            })
            .collect();
        [("items".to_owned(), items)].into()
    }

    fn advance(&self) -> bool {
        false
    }
}
