//! TLS for both connections, with rustls (ring): `require` encrypts without checking the server's
//! certificate (libpq's `sslmode=require`), `verify-full` checks it against the configured CA and the
//! host name. PostgreSQL negotiates TLS inside its protocol (an `SSLRequest` first), so the SQL
//! connection goes through tokio-postgres's `MakeTlsConnect` and the replication connection does the
//! same exchange itself ([`upgrade`]).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio_postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect, TlsStream};
use tokio_rustls::TlsConnector;

use super::config::TlsMode;
use super::error::PgError;

/// The rustls configuration for `mode`; `None` for plain connections. A CA that does not parse is a
/// setup error naming the field.
pub fn client_config(mode: &TlsMode) -> Result<Option<Arc<ClientConfig>>, PgError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| PgError::Setup(format!("tls: {e}")))?;
    let config = match mode {
        TlsMode::Disable => return Ok(None),
        TlsMode::Require => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
            .with_no_client_auth(),
        TlsMode::VerifyFull { ca_pem } => {
            let mut roots = rustls::RootCertStore::empty();
            for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
                let cert = cert.map_err(|e| {
                    PgError::Setup(format!("'ca_certificate' is not a PEM certificate: {e}"))
                })?;
                roots
                    .add(cert)
                    .map_err(|e| PgError::Setup(format!("'ca_certificate' cannot be used: {e}")))?;
            }
            if roots.is_empty() {
                return Err(PgError::Setup(
                    "'ca_certificate' holds no PEM certificate; paste the server's CA (-----BEGIN CERTIFICATE-----...)".into(),
                ));
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        }
    };
    Ok(Some(Arc::new(config)))
}

/// `sslmode=require`: any certificate is accepted (its signatures still have to verify).
#[derive(Debug)]
struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

fn server_name(host: &str) -> io::Result<ServerName<'static>> {
    ServerName::try_from(host.to_owned())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("host '{host}': {e}")))
}

/// tokio-postgres's TLS hook over rustls.
#[derive(Clone)]
pub struct RustlsConnect(pub Arc<ClientConfig>);

/// One connection's TLS setup.
pub struct RustlsTlsConnect {
    config: Arc<ClientConfig>,
    name: ServerName<'static>,
}

/// A TLS stream for tokio-postgres.
pub struct RustlsStream<S>(tokio_rustls::client::TlsStream<S>);

impl<S> MakeTlsConnect<S> for RustlsConnect
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = RustlsStream<S>;
    type TlsConnect = RustlsTlsConnect;
    type Error = io::Error;

    fn make_tls_connect(&mut self, domain: &str) -> io::Result<RustlsTlsConnect> {
        Ok(RustlsTlsConnect {
            config: Arc::clone(&self.0),
            name: server_name(domain)?,
        })
    }
}

impl<S> TlsConnect<S> for RustlsTlsConnect
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = RustlsStream<S>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<RustlsStream<S>>> + Send>>;

    fn connect(self, stream: S) -> Self::Future {
        Box::pin(async move {
            let tls = TlsConnector::from(self.config)
                .connect(self.name, stream)
                .await?;
            Ok(RustlsStream(tls))
        })
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for RustlsStream<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for RustlsStream<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> TlsStream for RustlsStream<S> {
    fn channel_binding(&self) -> ChannelBinding {
        ChannelBinding::none()
    }
}

/// A byte stream of the replication connection: plain TCP or TLS over it.
pub trait Transport: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Transport for T {}

/// Asks the server for TLS on a fresh connection (`SSLRequest`) and completes the handshake.
pub async fn upgrade(
    mut tcp: tokio::net::TcpStream,
    config: Arc<ClientConfig>,
    host: &str,
) -> Result<Box<dyn Transport>, PgError> {
    let tls_error = |e: io::Error| PgError::Protocol(format!("TLS: {e}"));
    // Length 8, then the SSLRequest code 1234.5679.
    tcp.write_all(&[0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f])
        .await
        .map_err(tls_error)?;
    let answer = tcp.read_u8().await.map_err(tls_error)?;
    if answer != b'S' {
        return Err(PgError::Setup(
            "the server does not accept TLS connections (ssl = off); set 'tls' to 'disable' or enable ssl on the server".into(),
        ));
    }
    let name = server_name(host).map_err(tls_error)?;
    let tls = TlsConnector::from(config)
        .connect(name, tcp)
        .await
        .map_err(|e| PgError::Setup(format!("TLS handshake with {host} failed: {e}")))?;
    Ok(Box::new(tls))
}
