//! Player identity from the game's own backend (`--auth-jwt-key`): matchmaking then takes
//! only callers with a valid JWT (`Authorization: Bearer <token>`), and the player's id and
//! name come from its claims (`sub`, `name`), never from the client's join.

use jsonwebtoken::{decode, Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use crate::net::http::Request;
use crate::rooms::Identity;

/// Verifies tokens with one key.
pub struct JwtAuth {
    key: DecodingKey,
    validation: Validation,
}

impl std::fmt::Debug for JwtAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "JwtAuth({:?})", self.validation.algorithms)
    }
}

/// Why a caller was refused.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// No `Authorization: Bearer` header.
    #[error("an Authorization: Bearer <JWT> header is required")]
    Missing,
    /// The token did not verify (signature, expiry, claims).
    #[error("invalid token: {0}")]
    Invalid(#[from] jsonwebtoken::errors::Error),
}

#[derive(Debug, Deserialize)]
struct Claims {
    sub: String,
    name: Option<String>,
}

impl JwtAuth {
    /// From `--auth-jwt-key`: an HS256 secret, or `@path` to a PEM file with an RS256 or
    /// EdDSA (Ed25519) public key.
    ///
    /// # Errors
    /// A file that cannot be read, or holds no key of those kinds.
    pub fn new(spec: &str) -> Result<JwtAuth, String> {
        let (key, alg) = match spec.strip_prefix('@') {
            Some(path) => {
                let pem = std::fs::read(path).map_err(|e| format!("cannot read {path}: {e}"))?;
                if let Ok(k) = DecodingKey::from_rsa_pem(&pem) {
                    (k, Algorithm::RS256)
                } else if let Ok(k) = DecodingKey::from_ed_pem(&pem) {
                    (k, Algorithm::EdDSA)
                } else {
                    return Err(format!("{path}: no RSA or Ed25519 public key in PEM form"));
                }
            }
            None if spec.is_empty() => return Err("an empty HS256 secret".to_owned()),
            None => (DecodingKey::from_secret(spec.as_bytes()), Algorithm::HS256),
        };
        let mut validation = Validation::new(alg);
        validation.set_required_spec_claims(&["exp", "sub"]);
        Ok(JwtAuth { key, validation })
    }

    /// The identity in `token`, if it verifies.
    ///
    /// # Errors
    /// [`AuthError::Invalid`].
    pub fn verify(&self, token: &str) -> Result<Identity, AuthError> {
        let claims = decode::<Claims>(token, &self.key, &self.validation)?.claims;
        // Cleaned and bounded by the room, as every name.
        let name = claims.name.unwrap_or_else(|| claims.sub.clone());
        Ok(Identity {
            id: claims.sub,
            name,
        })
    }
}

/// The caller's identity: `None` when the server has no `--auth-jwt-key` (anonymous
/// players).
///
/// # Errors
/// [`AuthError`] when a key is set and the request has no valid token.
pub fn identify(req: &Request, auth: Option<&JwtAuth>) -> Result<Option<Identity>, AuthError> {
    let Some(auth) = auth else {
        return Ok(None);
    };
    let token = req
        .header("authorization")
        .and_then(|h| {
            h.strip_prefix("Bearer ")
                .or_else(|| h.strip_prefix("bearer "))
        })
        .ok_or(AuthError::Missing)?;
    auth.verify(token.trim()).map(Some)
}
