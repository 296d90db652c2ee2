//! Game modes (`assets/modes.toml`): what a room is created from. Read and checked once at
//! start; every map a mode names is loaded then, so a bad file stops the server before it
//! serves anyone.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use tickwire_shared::{Map, SimConfig};

use crate::config::{parse_duration, Config};
use crate::room::{Interest, RoomSettings};

/// Why the modes could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ModesError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The modes file is not valid TOML of the expected shape.
    #[error("invalid modes file {path}: {source}")]
    Syntax {
        /// The file.
        path: String,
        /// What is wrong.
        source: Box<toml::de::Error>,
    },
    /// A map file is not a valid map.
    #[error("invalid map {path}: {source}")]
    Map {
        /// The file.
        path: String,
        /// What is wrong.
        source: tickwire_shared::map::MapError,
    },
    /// The modes contradict themselves (duplicate names, no default, zero seats...).
    #[error("invalid modes file {path}: {why}")]
    Invalid {
        /// The file.
        path: String,
        /// What is wrong.
        why: String,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ModesFile {
    default: String,
    #[serde(rename = "mode")]
    modes: Vec<ModeEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ModeEntry {
    name: String,
    map: PathBuf,
    max_players: usize,
    tick_hz: Option<u16>,
    #[serde(default)]
    view_width: f32,
    #[serde(default)]
    view_height: f32,
    view_margin: Option<f32>,
    public: Option<bool>,
    empty_ttl: Option<String>,
    reconnect_grace: Option<String>,
    /// With `--record-dir`: whether this mode's rooms are recorded [true].
    record: Option<bool>,
    /// Records this mode's rooms into this directory (relative to the assets directory),
    /// with or without `--record-dir`.
    record_dir: Option<PathBuf>,
    /// Spectators per room at most [64].
    spectators: Option<usize>,
    /// How far behind the room spectators watch ["0"].
    spectator_delay: Option<String>,
}

/// One mode, ready to create rooms from.
#[derive(Debug)]
pub struct Mode {
    /// Its name (what matchmaking asks for).
    pub name: String,
    /// The map every room of this mode plays on (shared by them, never copied).
    pub map: Arc<Map>,
    /// The settings of every room of this mode.
    pub settings: RoomSettings,
    /// Whether its rooms are listed and matchmade (a private room never is).
    pub public: bool,
    /// How long a room lives with nobody in it and no seat reserved.
    pub empty_ttl: Duration,
}

impl Mode {
    /// Seats per room.
    #[must_use]
    pub fn max_players(&self) -> usize {
        self.settings.max_players
    }
}

/// Every mode, by name, and the one quick play joins.
#[derive(Debug)]
pub struct Modes {
    by_name: BTreeMap<String, Arc<Mode>>,
    default: Arc<Mode>,
}

impl Modes {
    /// Reads the modes named by `config` (`--modes`, else `modes.toml` under `--assets`),
    /// loads their maps, and applies the command line's overrides to the default mode
    /// (`--default-mode`, `--map`, `--max-players`, `--tick-hz`, `--view-*`,
    /// `--reconnect-grace`).
    ///
    /// # Errors
    /// [`ModesError`] naming the file and what is wrong.
    pub fn load(config: &Config) -> Result<Modes, ModesError> {
        let path = config.modes_path();
        let text = read(&path)?;
        let file: ModesFile = toml::from_str(&text).map_err(|e| ModesError::Syntax {
            path: path.display().to_string(),
            source: Box::new(e),
        })?;
        let invalid = |why: String| ModesError::Invalid {
            path: path.display().to_string(),
            why,
        };
        let default_name = config.default_mode.clone().unwrap_or(file.default);
        let mut by_name = BTreeMap::new();
        for entry in file.modes {
            let is_default = entry.name == default_name;
            let mode = build(entry, config, is_default, &invalid)?;
            let name = mode.name.clone();
            if by_name.insert(name.clone(), Arc::new(mode)).is_some() {
                return Err(invalid(format!("mode `{name}` is defined twice")));
            }
        }
        let default = by_name
            .get(&default_name)
            .cloned()
            .ok_or_else(|| invalid(format!("the default mode `{default_name}` is not defined")))?;
        Ok(Modes { by_name, default })
    }

    /// The mode called `name`.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&Arc<Mode>> {
        self.by_name.get(name)
    }

    /// The mode quick play joins.
    #[must_use]
    pub fn default_mode(&self) -> &Arc<Mode> {
        &self.default
    }

    /// Every mode, by name.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Mode>> {
        self.by_name.values()
    }
}

fn read(path: &Path) -> Result<String, ModesError> {
    std::fs::read_to_string(path).map_err(|source| ModesError::Read {
        path: path.display().to_string(),
        source,
    })
}

/// A mode from its entry; the default mode takes the command line's overrides.
fn build(
    entry: ModeEntry,
    config: &Config,
    is_default: bool,
    invalid: &impl Fn(String) -> ModesError,
) -> Result<Mode, ModesError> {
    let name = entry.name;
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(invalid(format!(
            "mode name `{name}`: use letters, digits, `-` and `_`"
        )));
    }
    let map_path =
        over(is_default, config.map.clone()).unwrap_or_else(|| config.assets.join(&entry.map));
    let map = Map::from_json(&read(&map_path)?).map_err(|source| ModesError::Map {
        path: map_path.display().to_string(),
        source,
    })?;
    let max_players = over(is_default, config.max_players).unwrap_or(entry.max_players);
    if max_players == 0 {
        return Err(invalid(format!("mode `{name}` has no seats")));
    }
    let tick_hz = over(is_default, config.tick_hz)
        .or(entry.tick_hz)
        .unwrap_or(tickwire_shared::tick::DEFAULT_TICK_HZ);
    if !(1..=240).contains(&tick_hz) {
        return Err(invalid(format!("mode `{name}`: tick_hz must be 1 to 240")));
    }
    let (w, h) = match (
        over(is_default, config.view_width),
        over(is_default, config.view_height),
    ) {
        (Some(w), Some(h)) => (w, h),
        _ => (entry.view_width, entry.view_height),
    };
    let margin = entry.view_margin.unwrap_or(config.view_margin);
    let empty_ttl = match entry.empty_ttl {
        Some(t) => {
            parse_duration(&t).map_err(|e| invalid(format!("mode `{name}`: empty_ttl: {e}")))?
        }
        None => Duration::from_secs(30),
    };
    let mut settings = crate::room_settings(config);
    settings.sim = SimConfig {
        tick_hz,
        ..SimConfig::default()
    };
    settings.max_players = max_players;
    if let Some(g) = entry.reconnect_grace {
        settings.reconnect_grace = parse_duration(&g)
            .map_err(|e| invalid(format!("mode `{name}`: reconnect_grace: {e}")))?;
    }
    if let Some(g) = over(is_default, config.reconnect_grace) {
        settings.reconnect_grace = g;
    }
    if let Some(dir) = entry.record_dir {
        let dir = config.assets.join(dir);
        let opts = crate::room::record::RecordOptions {
            queue: config.record_queue,
            max_bytes: config.record_max_bytes,
            max_files: config.record_max_files,
            ..crate::room::record::RecordOptions::new(&dir)
        };
        let sink = crate::room::record::RecordSink::new(opts)
            .map_err(|e| invalid(format!("mode `{name}`: record_dir {}: {e}", dir.display())))?;
        settings.recording = Some(sink);
    }
    if entry.record == Some(false) {
        settings.recording = None;
    }
    if let Some(n) = entry.spectators {
        settings.max_spectators = n;
    }
    if let Some(d) = entry.spectator_delay {
        settings.spectator_delay = parse_duration(&d)
            .map_err(|e| invalid(format!("mode `{name}`: spectator_delay: {e}")))?;
        if settings.spectator_delay > Duration::from_secs(120) {
            return Err(invalid(format!(
                "mode `{name}`: spectator_delay is 120 s at most"
            )));
        }
    }
    settings.interest = if w > 0.0 && h > 0.0 {
        Interest::view(w, h, margin)
    } else {
        Interest::everything()
    };
    Ok(Mode {
        name,
        map: Arc::new(map),
        settings,
        public: entry.public.unwrap_or(true),
        empty_ttl,
    })
}

/// A command-line override, for the default mode only.
fn over<T>(is_default: bool, value: Option<T>) -> Option<T> {
    value.filter(|_| is_default)
}
