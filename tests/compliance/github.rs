//! GitHub (the shipped definition `definitions/github.toml`) under the compliance suite: the
//! simulator's repositories, issues, comments, pull requests, labels, milestones and releases as the
//! rows the tables must hold, written from GitHub's GraphQL fields.

use std::collections::HashMap;
use std::sync::Arc;

use futures::future::BoxFuture;
use serde_json::{json, Value};

use fivetran_source::compliance::{
    shipped_definition, start_sim, ExpectedRow, Sim, Subject, Truth,
};
use fivetran_source::connectors::github::simulator::{GithubConfig, GithubSimulator};
use fivetran_source::sdk::DynConnector;
use fivetran_source::simulator::SimControl;

/// The GitHub definition and its simulator.
pub struct GithubSubject;

impl Subject for GithubSubject {
    fn name(&self) -> &'static str {
        "github"
    }

    fn connector(&self) -> Arc<dyn DynConnector> {
        shipped_definition(fivetran_source::connectors::github::DEFINITION)
    }

    fn start(&self, seed: u64) -> BoxFuture<'static, Box<dyn Sim>> {
        let config = GithubConfig {
            seed,
            ..GithubConfig::small()
        };
        start_sim(config, GithubSim)
    }

    /// Every stream is one endpoint: faults aimed at it hit them all.
    fn endpoints(&self) -> Vec<&'static str> {
        vec!["/graphql"]
    }

    fn credentials_advice(&self) -> Option<&'static str> {
        Some("access token")
    }

    /// GitHub has no feed of deleted issues: a deleted issue (and its comments) stays until the next
    /// full pass (documented in docs/declarative.md).
    fn stale_children(&self) -> &'static [&'static str] {
        &["issues", "issue_comments"]
    }
}

/// The GitHub simulator as the suite drives it.
pub struct GithubSim(pub GithubSimulator);

fn at(t: i64) -> Value {
    json!(t)
}

fn row(pairs: &[(&str, Value)]) -> ExpectedRow {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}

impl Sim for GithubSim {
    fn configuration(&self) -> HashMap<String, String> {
        [
            ("access_token".to_owned(), self.0.token().to_owned()),
            ("repositories".to_owned(), self.0.repositories()),
            ("base_url".to_owned(), self.0.base_url()),
        ]
        .into()
    }

    fn bad_credentials(&self) -> HashMap<String, String> {
        let mut configuration = self.configuration();
        configuration.insert("access_token".into(), "ghp_not_the_token".into());
        configuration
    }

    fn control(&self) -> Option<&SimControl> {
        Some(self.0.control())
    }

    fn truth(&self) -> Truth {
        let data = self.0.data();
        let mut truth = Truth::new();
        let mut put = |table: &str, r: ExpectedRow| {
            truth.entry(table.to_owned()).or_default().push(r);
        };
        for repo in &data.repos {
            let full = repo.name_with_owner();
            put(
                "repositories",
                row(&[
                    ("id", json!(repo.id)),
                    ("name_with_owner", json!(full)),
                    ("stargazer_count", json!(repo.stars)),
                    ("updated_at", at(repo.updated)),
                ]),
            );
            for i in repo.issues.iter().filter(|i| !i.deleted) {
                put(
                    "issues",
                    row(&[
                        ("id", json!(i.id)),
                        ("repository", json!(full)),
                        ("number", json!(i.number)),
                        ("title", json!(i.title)),
                        ("state", json!(i.state)),
                        ("comment_count", json!(i.comments.len())),
                        ("updated_at", at(i.updated)),
                        ("closed_at", i.closed.map_or(Value::Null, at)),
                    ]),
                );
                for c in &i.comments {
                    put(
                        "issue_comments",
                        row(&[
                            ("id", json!(c.id)),
                            ("issue_id", json!(i.id)),
                            ("body", json!(c.body)),
                            ("author", json!(c.author.trim_end_matches("[bot]"))),
                        ]),
                    );
                }
            }
            for p in &repo.pulls {
                put(
                    "pull_requests",
                    row(&[
                        ("id", json!(p.id)),
                        ("number", json!(p.number)),
                        ("title", json!(p.title)),
                        ("state", json!(p.state)),
                        ("merged", json!(p.merged.is_some())),
                        ("additions", json!(p.additions)),
                        ("updated_at", at(p.updated)),
                    ]),
                );
            }
            for l in repo.labels.iter().filter(|l| !l.deleted) {
                put(
                    "labels",
                    row(&[
                        ("id", json!(l.id)),
                        ("name", json!(l.name)),
                        ("repository", json!(full)),
                    ]),
                );
            }
            for m in repo.milestones.iter().filter(|m| !m.deleted) {
                put(
                    "milestones",
                    row(&[
                        ("id", json!(m.id)),
                        ("title", json!(m.name)),
                        ("state", json!(m.state)),
                        ("updated_at", at(m.updated)),
                    ]),
                );
            }
            for r in repo.releases.iter().filter(|r| !r.deleted) {
                put(
                    "releases",
                    row(&[
                        ("id", json!(r.id)),
                        ("tag_name", json!(r.name)),
                        ("repository", json!(full)),
                    ]),
                );
            }
        }
        truth
    }

    fn advance(&self) -> bool {
        self.0.advance(1);
        true
    }
}
