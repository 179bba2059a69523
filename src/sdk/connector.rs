//! The `Connector` trait every connector implements, and its object-safe form the server drives.

use std::collections::HashMap;

use async_trait::async_trait;

use crate::sdk::state::{parse_state, ConnectorState};
use crate::sdk::Error;
use crate::sdk::{Configuration, Emitter, Form, FromConfiguration, Schema};

/// A source connector. The SDK parses configuration and state into the associated types before calling
/// in, so a connector only ever sees validated, typed input.
#[async_trait]
pub trait Connector: Send + Sync + 'static {
    /// Typed configuration, parsed once from Fivetran's string map.
    type Config: FromConfiguration + Send + Sync;
    /// Typed, versioned state; `Default` is a fresh sync.
    type State: ConnectorState;

    /// The setup form and its setup tests.
    fn form(&self) -> Form;

    /// Runs setup test `name` (one listed by [`Connector::form`]). `Err` is shown to the user: make it
    /// say what to fix.
    async fn test(&self, name: &str, config: &Self::Config) -> Result<(), Error>;

    /// The tables this connector syncs with this configuration.
    async fn schema(&self, config: &Self::Config) -> Result<Schema, Error>;

    /// One sync: emit rows and checkpoints into `out`, starting from `state`.
    async fn update(
        &self,
        config: &Self::Config,
        state: Self::State,
        out: &mut Emitter,
    ) -> Result<(), Error>;
}

/// The object-safe face of a [`Connector`], over raw configuration maps and state JSON.
#[async_trait]
pub trait DynConnector: Send + Sync + 'static {
    /// See [`Connector::form`].
    fn form(&self) -> Form;
    /// Parses the configuration, then runs the named setup test. An unknown name is an error.
    async fn test(&self, name: &str, config: &HashMap<String, String>) -> Result<(), Error>;
    /// Parses the configuration, then returns the schema.
    async fn schema(&self, config: &HashMap<String, String>) -> Result<Schema, Error>;
    /// Checks that `state_json` parses into this connector's state (without syncing).
    fn check_state(&self, state_json: Option<&str>) -> Result<(), Error>;
    /// Parses configuration and state, then syncs.
    async fn update(
        &self,
        config: &HashMap<String, String>,
        state_json: Option<&str>,
        out: &mut Emitter,
    ) -> Result<(), Error>;
}

fn parse_config<T: FromConfiguration>(config: &HashMap<String, String>) -> Result<T, Error> {
    Ok(T::from_configuration(&Configuration::new(config))?)
}

#[async_trait]
impl<C: Connector> DynConnector for C {
    fn form(&self) -> Form {
        Connector::form(self)
    }

    async fn test(&self, name: &str, config: &HashMap<String, String>) -> Result<(), Error> {
        let form = Connector::form(self);
        if !form.test_names().any(|t| t == name) {
            let valid = form.test_names().collect::<Vec<_>>().join(", ");
            return Err(Error::UnknownTest {
                name: name.to_owned(),
                valid,
            });
        }
        let config: C::Config = parse_config(config)?;
        Connector::test(self, name, &config).await
    }

    async fn schema(&self, config: &HashMap<String, String>) -> Result<Schema, Error> {
        let config: C::Config = parse_config(config)?;
        Connector::schema(self, &config).await
    }

    fn check_state(&self, state_json: Option<&str>) -> Result<(), Error> {
        parse_state::<C::State>(state_json)?;
        Ok(())
    }

    async fn update(
        &self,
        config: &HashMap<String, String>,
        state_json: Option<&str>,
        out: &mut Emitter,
    ) -> Result<(), Error> {
        let config: C::Config = parse_config(config)?;
        let state = parse_state::<C::State>(state_json)?;
        Connector::update(self, &config, state, out).await
    }
}
