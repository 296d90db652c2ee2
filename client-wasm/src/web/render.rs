//! Canvas 2D drawing of a [`RenderModel`]: the world (map, walls, pickups, players,
//! projectiles, hit markers) with the camera on the own player, then the HUD: score, rank
//! and connection (top left), minimap and kill feed (top right), health (bottom centre, or
//! top left on a narrow screen), the death screen, the hurt flash, the touch sticks, the
//! scoreboard (Tab) and the network numbers (F3). What to show is decided in
//! [`crate::hud`]; this only draws it.

use std::f64::consts::TAU;

use glam::Vec2;
use tickwire_shared::Map;
use wasm_bindgen::JsValue;
use web_sys::CanvasRenderingContext2d;

use crate::game::RenderModel;
use crate::hud::FeedKind;
use crate::touch::{TouchPad, STICK_RADIUS};

/// Own player: blue with a white ring (the ring, not the hue, says "you").
const ME: &str = "#4cc9f0";
/// Others: orange with a dark outline (blue/orange stays apart for colour-blind eyes).
const ENEMY: &str = "#ff9f1c";
const TEXT: &str = "#e6edf3";
const DIM: &str = "#8b949e";
const PANEL: &str = "rgba(13,17,23,0.72)";
/// Below this width the layout is the phone's.
const NARROW: f64 = 760.0;

/// What the HUD shows besides the model.
pub struct Hud<'a> {
    pub scores: bool,
    pub debug: bool,
    /// Frames per second to show, when the setting is on.
    pub fps: Option<f64>,
    /// The fingers (sticks drawn when the page is played by touch).
    pub touch: &'a TouchPad,
}

/// Draws one frame on a canvas of `w` x `h` CSS pixels.
pub fn draw(
    ctx: &CanvasRenderingContext2d,
    w: f64,
    h: f64,
    map: Option<&Map>,
    m: &RenderModel,
    hud: &Hud<'_>,
) -> Result<(), JsValue> {
    ctx.set_fill_style_str("#0d1117");
    ctx.fill_rect(0.0, 0.0, w, h);
    if let Some(map) = map {
        ctx.save();
        let (ox, oy) = (
            (w / 2.0 - f64::from(m.camera.x)).round(),
            (h / 2.0 - f64::from(m.camera.y)).round(),
        );
        ctx.translate(ox, oy)?;
        let view = (-ox - 60.0, -oy - 60.0, -ox + w + 60.0, -oy + h + 60.0);
        world(ctx, map, m, view)?;
        ctx.restore();
        overlay(ctx, w, h, map, m, hud)?;
    }
    Ok(())
}

fn circle(ctx: &CanvasRenderingContext2d, x: f64, y: f64, r: f64) -> Result<(), JsValue> {
    ctx.begin_path();
    ctx.arc(x, y, r, 0.0, TAU)?;
    ctx.fill();
    Ok(())
}

fn ring(ctx: &CanvasRenderingContext2d, x: f64, y: f64, r: f64) -> Result<(), JsValue> {
    ctx.begin_path();
    ctx.arc(x, y, r, 0.0, TAU)?;
    ctx.stroke();
    Ok(())
}

fn inside(p: Vec2, v: (f64, f64, f64, f64)) -> bool {
    let (x, y) = (f64::from(p.x), f64::from(p.y));
    x >= v.0 && y >= v.1 && x <= v.2 && y <= v.3
}

fn hp_colour(frac: f64) -> &'static str {
    if frac > 0.5 {
        "#3fb950"
    } else if frac > 0.25 {
        "#d29922"
    } else {
        "#f85149"
    }
}

fn world(
    ctx: &CanvasRenderingContext2d,
    map: &Map,
    m: &RenderModel,
    view: (f64, f64, f64, f64),
) -> Result<(), JsValue> {
    let (mw, mh) = (f64::from(map.width), f64::from(map.height));
    ctx.set_fill_style_str("#161b22");
    ctx.fill_rect(0.0, 0.0, mw, mh);
    // The grid, only where the screen is.
    ctx.set_stroke_style_str("#1f2630");
    ctx.set_line_width(1.0);
    ctx.begin_path();
    let (x0, x1) = (view.0.max(0.0), view.2.min(mw));
    let (y0, y1) = (view.1.max(0.0), view.3.min(mh));
    let mut x = (x0 / 100.0).ceil() * 100.0;
    while x <= x1 {
        ctx.move_to(x, y0);
        ctx.line_to(x, y1);
        x += 100.0;
    }
    let mut y = (y0 / 100.0).ceil() * 100.0;
    while y <= y1 {
        ctx.move_to(x0, y);
        ctx.line_to(x1, y);
        y += 100.0;
    }
    ctx.stroke();
    ctx.set_fill_style_str("#3b4557");
    for wall in &map.walls {
        ctx.fill_rect(wall.x.into(), wall.y.into(), wall.w.into(), wall.h.into());
    }
    ctx.set_fill_style_str("#4d5a70");
    for wall in &map.walls {
        ctx.fill_rect(wall.x.into(), wall.y.into(), wall.w.into(), 3.0);
    }
    for (pos, active) in &m.pickups {
        if !inside(*pos, view) {
            continue;
        }
        let (x, y) = (f64::from(pos.x), f64::from(pos.y));
        ctx.set_global_alpha(if *active { 1.0 } else { 0.2 });
        ctx.set_fill_style_str("#2ea043");
        circle(ctx, x, y, 16.0)?;
        ctx.set_fill_style_str(TEXT);
        ctx.fill_rect(x - 9.0, y - 3.0, 18.0, 6.0);
        ctx.fill_rect(x - 3.0, y - 9.0, 6.0, 18.0);
    }
    ctx.set_global_alpha(1.0);
    ctx.set_fill_style_str("#ffd166");
    for p in &m.projectiles {
        if inside(*p, view) {
            circle(ctx, p.x.into(), p.y.into(), 4.0)?;
        }
    }
    ctx.set_text_align("center");
    ctx.set_font("bold 14px system-ui, sans-serif");
    // Others first, the own player on top.
    for p in m
        .players
        .iter()
        .filter(|p| !p.me)
        .chain(m.players.iter().filter(|p| p.me))
    {
        if !inside(p.pos, view) {
            continue;
        }
        let (x, y) = (f64::from(p.pos.x), f64::from(p.pos.y));
        // Dead, or connection lost (held for a resume): faded.
        ctx.set_global_alpha(if p.dead {
            0.25
        } else if p.disconnected {
            0.4
        } else {
            1.0
        });
        ctx.set_fill_style_str(if p.me { ME } else { ENEMY });
        circle(ctx, x, y, 20.0)?;
        if p.me {
            ctx.set_stroke_style_str("#ffffff");
            ctx.set_line_width(3.0);
            ring(ctx, x, y, 23.0)?;
        } else {
            ctx.set_stroke_style_str("#0d1117");
            ctx.set_line_width(2.0);
            ring(ctx, x, y, 20.0)?;
        }
        ctx.set_stroke_style_str(if p.me { "#ffffff" } else { "#0d1117" });
        ctx.set_line_width(4.0);
        ctx.begin_path();
        ctx.move_to(x, y);
        let a = f64::from(p.aim);
        ctx.line_to(x + a.cos() * 30.0, y + a.sin() * 30.0);
        ctx.stroke();
        ctx.set_global_alpha(1.0);
        ctx.set_fill_style_str(if p.me { "#ffffff" } else { TEXT });
        let label = if p.me {
            format!("▼ {}", p.name)
        } else {
            p.name.clone()
        };
        ctx.fill_text(&label, x, y - 36.0)?;
        if p.disconnected {
            ctx.set_font("12px system-ui, sans-serif");
            ctx.set_fill_style_str(DIM);
            ctx.fill_text("⚠ connection lost", x, y + 40.0)?;
            ctx.set_font("bold 14px system-ui, sans-serif");
        }
        if !p.dead {
            let frac = f64::from(p.hp) / 100.0;
            ctx.set_fill_style_str("#30363d");
            ctx.fill_rect(x - 20.0, y - 31.0, 40.0, 5.0);
            ctx.set_fill_style_str(hp_colour(frac));
            ctx.fill_rect(x - 20.0, y - 31.0, 40.0 * frac.min(1.0), 5.0);
        }
    }
    // Hit markers: a white cross around the player we hit.
    ctx.set_stroke_style_str("#ffffff");
    ctx.set_line_width(3.0);
    for (p, alpha) in &m.hud.markers {
        ctx.set_global_alpha(f64::from(*alpha));
        let (x, y) = (f64::from(p.x), f64::from(p.y));
        ctx.begin_path();
        for (dx, dy) in [(1.0, 1.0), (1.0, -1.0), (-1.0, 1.0), (-1.0, -1.0)] {
            ctx.move_to(x + dx * 24.0, y + dy * 24.0);
            ctx.line_to(x + dx * 34.0, y + dy * 34.0);
        }
        ctx.stroke();
    }
    ctx.set_global_alpha(1.0);
    Ok(())
}

fn overlay(
    ctx: &CanvasRenderingContext2d,
    w: f64,
    h: f64,
    map: &Map,
    m: &RenderModel,
    hud: &Hud<'_>,
) -> Result<(), JsValue> {
    let hm = &m.hud;
    let narrow = w < NARROW;
    // The hurt flash: the screen's edge goes red.
    if hm.hurt > 0.0 {
        let a = f64::from(hm.hurt);
        ctx.set_fill_style_str(&format!("rgba(248,81,73,{:.3})", 0.18 * a));
        ctx.fill_rect(0.0, 0.0, w, h);
        ctx.set_fill_style_str(&format!("rgba(248,81,73,{:.3})", 0.5 * a));
        let t = 18.0;
        ctx.fill_rect(0.0, 0.0, w, t);
        ctx.fill_rect(0.0, h - t, w, t);
        ctx.fill_rect(0.0, 0.0, t, h);
        ctx.fill_rect(w - t, 0.0, t, h);
    }

    // Top left: score, rank, connection (and FPS).
    ctx.set_fill_style_str(PANEL);
    ctx.fill_rect(10.0, 10.0, 170.0, 62.0);
    ctx.set_text_align("left");
    ctx.set_font("bold 12px system-ui, sans-serif");
    ctx.set_fill_style_str(DIM);
    ctx.fill_text("SCORE", 20.0, 27.0)?;
    ctx.fill_text("RANK", 92.0, 27.0)?;
    ctx.set_font("bold 22px system-ui, sans-serif");
    ctx.set_fill_style_str(TEXT);
    ctx.fill_text(&hm.score.to_string(), 20.0, 50.0)?;
    ctx.fill_text(&format!("{}/{}", hm.rank, hm.ranked), 92.0, 50.0)?;
    // Connection: three bars, lit by quality (their height, not only their colour).
    let lit = hm.quality.bars();
    for i in 0..3u8 {
        let bh = 4.0 + 3.0 * f64::from(i);
        ctx.set_fill_style_str(if i < lit {
            match lit {
                3 => "#3fb950",
                2 => "#d29922",
                _ => "#f85149",
            }
        } else {
            "#30363d"
        });
        ctx.fill_rect(20.0 + 6.0 * f64::from(i), 66.0 - bh, 4.0, bh);
    }
    ctx.set_font("12px system-ui, sans-serif");
    ctx.set_fill_style_str(DIM);
    let mut conn = format!("{:.0} ms", hm.ping_ms);
    if let Some(fps) = hud.fps {
        conn.push_str(&format!(" · {fps:.0} FPS"));
    }
    ctx.fill_text(&conn, 42.0, 66.0)?;

    // Health: bar and number.
    let frac = if hm.max_hp > 0 {
        f64::from(hm.hp) / f64::from(hm.max_hp)
    } else {
        0.0
    };
    let (bw, bh) = if narrow { (170.0, 20.0) } else { (280.0, 26.0) };
    let (bx, by) = if narrow {
        (10.0, 80.0)
    } else {
        (w / 2.0 - bw / 2.0, h - bh - 22.0)
    };
    ctx.set_fill_style_str(PANEL);
    ctx.fill_rect(bx - 4.0, by - 4.0, bw + 8.0, bh + 8.0);
    ctx.set_fill_style_str("#30363d");
    ctx.fill_rect(bx, by, bw, bh);
    ctx.set_fill_style_str(hp_colour(frac));
    ctx.fill_rect(bx, by, bw * frac.min(1.0), bh);
    ctx.set_font(if narrow {
        "bold 14px system-ui, sans-serif"
    } else {
        "bold 17px system-ui, sans-serif"
    });
    ctx.set_fill_style_str("#ffffff");
    ctx.set_text_align("center");
    ctx.fill_text(
        &format!("{} / {}", hm.hp, hm.max_hp),
        bx + bw / 2.0,
        by + bh / 2.0 + 6.0,
    )?;

    // Top right: the minimap, the feed under it.
    let (_, my, _, mh) = minimap(ctx, w, map, m)?;
    ctx.set_text_align("right");
    ctx.set_font("bold 14px system-ui, sans-serif");
    for (i, line) in hm.feed.iter().enumerate() {
        let y = my + mh + 26.0 + 24.0 * i as f64;
        let tw = ctx.measure_text(&line.text)?.width();
        ctx.set_global_alpha(f64::from(line.alpha));
        let (bg, fg) = match line.kind {
            FeedKind::MyKill => ("rgba(76,201,240,0.30)", "#ffffff"),
            FeedKind::MyDeath => ("rgba(248,81,73,0.35)", "#ffffff"),
            FeedKind::Heal => ("rgba(46,160,67,0.35)", "#ffffff"),
            FeedKind::Other => (PANEL, TEXT),
        };
        ctx.set_fill_style_str(bg);
        ctx.fill_rect(w - 10.0 - tw - 16.0, y - 17.0, tw + 16.0, 22.0);
        ctx.set_fill_style_str(fg);
        ctx.fill_text(&line.text, w - 18.0, y)?;
    }
    ctx.set_global_alpha(1.0);

    // Touch: the sticks where the thumbs are, faint hints where they go.
    if hud.touch.used {
        sticks(ctx, w, h, hud.touch)?;
    } else if !narrow {
        ctx.set_text_align("left");
        ctx.set_font("13px system-ui, sans-serif");
        ctx.set_fill_style_str(DIM);
        ctx.fill_text(
            "WASD move · mouse aim · click/space fire · shift dash · Tab scores · F3 stats · Esc settings",
            12.0,
            h - 12.0,
        )?;
    }

    if let Some(d) = &hm.death {
        death_screen(ctx, w, h, d.killer.as_deref(), d.respawn_in)?;
    }
    if hud.scores {
        scoreboard(ctx, w, h, m)?;
    }
    if hud.debug {
        ctx.set_text_align("left");
        ctx.set_font("13px ui-monospace, monospace");
        let top = if narrow { 112.0 } else { 80.0 };
        ctx.set_fill_style_str("rgba(13,17,23,0.85)");
        ctx.fill_rect(10.0, top, 300.0, 17.0 * m.debug.len() as f64 + 10.0);
        ctx.set_fill_style_str("#7ee787");
        for (i, line) in m.debug.iter().enumerate() {
            ctx.fill_text(line, 18.0, top + 18.0 + 17.0 * i as f64)?;
        }
    }
    Ok(())
}

/// The minimap at the top right: walls, pickups, and the players the client has (what
/// interest management sent it, nothing more). Returns its rectangle.
fn minimap(
    ctx: &CanvasRenderingContext2d,
    w: f64,
    map: &Map,
    m: &RenderModel,
) -> Result<(f64, f64, f64, f64), JsValue> {
    let (mapw, maph) = (
        f64::from(map.width).max(1.0),
        f64::from(map.height).max(1.0),
    );
    let mut mw = (w * 0.28).min(200.0);
    let mut mh = mw * maph / mapw;
    if mh > 150.0 {
        mh = 150.0;
        mw = mh * mapw / maph;
    }
    let (x0, y0) = (w - mw - 10.0, 10.0);
    let s = mw / mapw;
    ctx.set_fill_style_str("rgba(13,17,23,0.8)");
    ctx.fill_rect(x0 - 3.0, y0 - 3.0, mw + 6.0, mh + 6.0);
    ctx.set_fill_style_str("rgba(22,27,34,0.9)");
    ctx.fill_rect(x0, y0, mw, mh);
    ctx.set_fill_style_str("#56637a");
    for wall in &map.walls {
        ctx.fill_rect(
            x0 + f64::from(wall.x) * s,
            y0 + f64::from(wall.y) * s,
            (f64::from(wall.w) * s).max(1.0),
            (f64::from(wall.h) * s).max(1.0),
        );
    }
    let at = |p: Vec2| (x0 + f64::from(p.x) * s, y0 + f64::from(p.y) * s);
    ctx.set_fill_style_str("#2ea043");
    for (p, active) in &m.pickups {
        if *active {
            let (x, y) = at(*p);
            ctx.fill_rect(x - 2.0, y - 2.0, 4.0, 4.0);
        }
    }
    ctx.set_fill_style_str(ENEMY);
    for p in m.players.iter().filter(|p| !p.me && !p.dead) {
        let (x, y) = at(p.pos);
        circle(ctx, x, y, 2.5)?;
    }
    // The own player: a white arrow pointing where it aims (a shape, not only a colour).
    if let Some(me) = m.players.iter().find(|p| p.me) {
        let (x, y) = at(me.pos);
        let a = f64::from(me.aim);
        let pt = |r: f64, da: f64| (x + (a + da).cos() * r, y + (a + da).sin() * r);
        ctx.set_fill_style_str("#ffffff");
        ctx.begin_path();
        let (ax, ay) = pt(7.0, 0.0);
        ctx.move_to(ax, ay);
        let (bx, by) = pt(5.0, 2.5);
        ctx.line_to(bx, by);
        let (cx, cy) = pt(5.0, -2.5);
        ctx.line_to(cx, cy);
        ctx.close_path();
        ctx.fill();
    }
    Ok((x0, y0, mw, mh))
}

fn sticks(ctx: &CanvasRenderingContext2d, w: f64, h: f64, t: &TouchPad) -> Result<(), JsValue> {
    let r = f64::from(STICK_RADIUS);
    let hint_y = h - r - 40.0;
    let draw = |base: Vec2, knob: Vec2, label: &str, active: bool| -> Result<(), JsValue> {
        let (bx, by) = (f64::from(base.x), f64::from(base.y));
        ctx.set_global_alpha(if active { 0.5 } else { 0.22 });
        ctx.set_fill_style_str("rgba(255,255,255,0.12)");
        circle(ctx, bx, by, r)?;
        ctx.set_stroke_style_str("#ffffff");
        ctx.set_line_width(2.0);
        ring(ctx, bx, by, r)?;
        ctx.set_fill_style_str("#ffffff");
        circle(ctx, f64::from(knob.x), f64::from(knob.y), 22.0)?;
        if !active {
            ctx.set_global_alpha(0.6);
            ctx.set_text_align("center");
            ctx.set_font("bold 13px system-ui, sans-serif");
            ctx.fill_text(label, bx, by + r + 18.0)?;
        }
        ctx.set_global_alpha(1.0);
        Ok(())
    };
    match t.stick {
        Some(f) => draw(f.base, f.base + f.deflection() * STICK_RADIUS, "", true)?,
        None => {
            let at = Vec2::new((r + 30.0) as f32, hint_y as f32);
            draw(at, at, "MOVE", false)?;
        }
    }
    match t.aim {
        Some(f) => {
            let d = f.at - f.base;
            let knob = if d.length() > STICK_RADIUS {
                f.base + d.normalize() * STICK_RADIUS
            } else {
                f.at
            };
            draw(f.base, knob, "", true)?;
        }
        None => {
            let at = Vec2::new((w - r - 30.0) as f32, hint_y as f32);
            draw(at, at, "AIM · FIRE", false)?;
        }
    }
    Ok(())
}

fn death_screen(
    ctx: &CanvasRenderingContext2d,
    w: f64,
    h: f64,
    killer: Option<&str>,
    respawn_in: f32,
) -> Result<(), JsValue> {
    ctx.set_fill_style_str("rgba(13,17,23,0.55)");
    ctx.fill_rect(0.0, 0.0, w, h);
    let cy = h / 2.0 - 30.0;
    ctx.set_text_align("center");
    ctx.set_fill_style_str("#ff7b72");
    ctx.set_font(if w < NARROW {
        "800 28px system-ui, sans-serif"
    } else {
        "800 40px system-ui, sans-serif"
    });
    ctx.fill_text("ELIMINATED", w / 2.0, cy)?;
    ctx.set_fill_style_str(TEXT);
    ctx.set_font("20px system-ui, sans-serif");
    if let Some(k) = killer {
        ctx.fill_text(&format!("by {k}"), w / 2.0, cy + 36.0)?;
    }
    ctx.set_font("bold 18px system-ui, sans-serif");
    ctx.fill_text(
        &format!("Respawning in {:.1} s", respawn_in.max(0.0)),
        w / 2.0,
        cy + 76.0,
    )?;
    // The countdown as a draining bar too.
    let bw = 220.0;
    ctx.set_fill_style_str("#30363d");
    ctx.fill_rect(w / 2.0 - bw / 2.0, cy + 90.0, bw, 6.0);
    ctx.set_fill_style_str("#ff7b72");
    let frac = f64::from((respawn_in / 2.0).clamp(0.0, 1.0));
    ctx.fill_rect(w / 2.0 - bw / 2.0, cy + 90.0, bw * frac, 6.0);
    Ok(())
}

fn scoreboard(
    ctx: &CanvasRenderingContext2d,
    w: f64,
    h: f64,
    m: &RenderModel,
) -> Result<(), JsValue> {
    let rows = m.scores.len().min(20) as f64;
    let (bw, bh) = (380.0_f64.min(w - 20.0), 64.0 + rows * 24.0);
    let left = w / 2.0 - bw / 2.0;
    ctx.set_fill_style_str("rgba(13,17,23,0.9)");
    ctx.fill_rect(left, h / 2.0 - bh / 2.0, bw, bh);
    ctx.set_font("bold 15px system-ui, sans-serif");
    ctx.set_fill_style_str(DIM);
    let top = h / 2.0 - bh / 2.0 + 30.0;
    ctx.set_text_align("left");
    ctx.fill_text("Player", left + 20.0, top)?;
    ctx.set_text_align("right");
    ctx.fill_text("K", left + bw - 80.0, top)?;
    ctx.fill_text("D", left + bw - 30.0, top)?;
    ctx.set_font("15px system-ui, sans-serif");
    for (i, (name, k, d, me)) in m.scores.iter().take(20).enumerate() {
        let y = top + 26.0 + 24.0 * i as f64;
        ctx.set_fill_style_str(if *me { "#ffffff" } else { TEXT });
        ctx.set_text_align("left");
        let label = if *me {
            format!("{}. ▶ {name}", i + 1)
        } else {
            format!("{}. {name}", i + 1)
        };
        ctx.fill_text(&label, left + 20.0, y)?;
        ctx.set_text_align("right");
        ctx.fill_text(&k.to_string(), left + bw - 80.0, y)?;
        ctx.fill_text(&d.to_string(), left + bw - 30.0, y)?;
    }
    Ok(())
}
