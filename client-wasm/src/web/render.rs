//! Canvas 2D drawing of a [`RenderModel`]: world (map, walls, players, projectiles) with the
//! camera on the own player, then the HUD (kill feed, countdown, scoreboard, debug).

use std::f64::consts::TAU;

use tickwire_shared::Map;
use wasm_bindgen::JsValue;
use web_sys::CanvasRenderingContext2d;

use crate::game::RenderModel;

/// What the HUD shows besides the model.
pub struct Hud<'a> {
    pub scores: bool,
    pub debug: bool,
    pub banner: Option<&'a str>,
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
        ctx.translate(
            (w / 2.0 - f64::from(m.camera.x)).round(),
            (h / 2.0 - f64::from(m.camera.y)).round(),
        )?;
        world(ctx, map, m)?;
        ctx.restore();
    }
    overlay(ctx, w, h, m, hud)
}

fn circle(ctx: &CanvasRenderingContext2d, x: f64, y: f64, r: f64) -> Result<(), JsValue> {
    ctx.begin_path();
    ctx.arc(x, y, r, 0.0, TAU)?;
    ctx.fill();
    Ok(())
}

fn world(ctx: &CanvasRenderingContext2d, map: &Map, m: &RenderModel) -> Result<(), JsValue> {
    let (mw, mh) = (f64::from(map.width), f64::from(map.height));
    ctx.set_fill_style_str("#161b22");
    ctx.fill_rect(0.0, 0.0, mw, mh);
    ctx.set_stroke_style_str("#1f2630");
    ctx.set_line_width(1.0);
    ctx.begin_path();
    let mut x = 0.0;
    while x <= mw {
        ctx.move_to(x, 0.0);
        ctx.line_to(x, mh);
        x += 100.0;
    }
    let mut y = 0.0;
    while y <= mh {
        ctx.move_to(0.0, y);
        ctx.line_to(mw, y);
        y += 100.0;
    }
    ctx.stroke();
    ctx.set_fill_style_str("#3b4557");
    for wall in &map.walls {
        ctx.fill_rect(wall.x.into(), wall.y.into(), wall.w.into(), wall.h.into());
    }
    for (pos, active) in &m.pickups {
        let (x, y) = (f64::from(pos.x), f64::from(pos.y));
        ctx.set_global_alpha(if *active { 1.0 } else { 0.2 });
        ctx.set_fill_style_str("#2ea043");
        circle(ctx, x, y, 16.0)?;
        ctx.set_fill_style_str("#e6edf3");
        ctx.fill_rect(x - 9.0, y - 3.0, 18.0, 6.0);
        ctx.fill_rect(x - 3.0, y - 9.0, 6.0, 18.0);
    }
    ctx.set_global_alpha(1.0);
    ctx.set_fill_style_str("#ffd166");
    for p in &m.projectiles {
        circle(ctx, p.x.into(), p.y.into(), 4.0)?;
    }
    ctx.set_text_align("center");
    ctx.set_font("13px system-ui, sans-serif");
    for p in &m.players {
        let (x, y) = (f64::from(p.pos.x), f64::from(p.pos.y));
        ctx.set_global_alpha(if p.dead { 0.25 } else { 1.0 });
        ctx.set_fill_style_str(if p.me { "#4cc9f0" } else { "#f72585" });
        circle(ctx, x, y, 20.0)?;
        ctx.set_stroke_style_str("#e6edf3");
        ctx.set_line_width(3.0);
        ctx.begin_path();
        ctx.move_to(x, y);
        let a = f64::from(p.aim);
        ctx.line_to(x + a.cos() * 28.0, y + a.sin() * 28.0);
        ctx.stroke();
        ctx.set_global_alpha(1.0);
        ctx.set_fill_style_str("#e6edf3");
        ctx.fill_text(&p.name, x, y - 34.0)?;
        if !p.dead {
            ctx.set_fill_style_str("#30363d");
            ctx.fill_rect(x - 20.0, y - 30.0, 40.0, 5.0);
            ctx.set_fill_style_str(if p.hp > 50 { "#3fb950" } else { "#d29922" });
            ctx.fill_rect(x - 20.0, y - 30.0, 40.0 * f64::from(p.hp) / 100.0, 5.0);
        }
    }
    Ok(())
}

fn overlay(
    ctx: &CanvasRenderingContext2d,
    w: f64,
    h: f64,
    m: &RenderModel,
    hud: &Hud<'_>,
) -> Result<(), JsValue> {
    ctx.set_font("14px system-ui, sans-serif");
    ctx.set_text_align("right");
    ctx.set_fill_style_str("#e6edf3");
    for (i, line) in m.hud.feed.iter().enumerate() {
        ctx.fill_text(&line.text, w - 16.0, 28.0 + 20.0 * i as f64)?;
    }
    ctx.set_text_align("center");
    if let Some(t) = m.hud.death.as_ref().map(|d| d.respawn_in) {
        ctx.set_font("28px system-ui, sans-serif");
        ctx.fill_text(&format!("Respawning in {t:.1} s"), w / 2.0, h / 2.0 - 60.0)?;
    }
    if let Some(b) = hud.banner {
        ctx.set_font("20px system-ui, sans-serif");
        ctx.set_fill_style_str("#f0883e");
        ctx.fill_text(b, w / 2.0, 40.0)?;
    }
    if hud.scores {
        let rows = m.scores.len().min(20) as f64;
        let (bw, bh) = (360.0, 60.0 + rows * 22.0);
        ctx.set_fill_style_str("rgba(13,17,23,0.85)");
        ctx.fill_rect(w / 2.0 - bw / 2.0, h / 2.0 - bh / 2.0, bw, bh);
        ctx.set_font("15px system-ui, sans-serif");
        ctx.set_fill_style_str("#8b949e");
        let top = h / 2.0 - bh / 2.0 + 30.0;
        ctx.set_text_align("left");
        ctx.fill_text("Player", w / 2.0 - 160.0, top)?;
        ctx.set_text_align("right");
        ctx.fill_text("K", w / 2.0 + 100.0, top)?;
        ctx.fill_text("D", w / 2.0 + 150.0, top)?;
        for (i, (name, k, d, me)) in m.scores.iter().take(20).enumerate() {
            let y = top + 24.0 + 22.0 * i as f64;
            ctx.set_fill_style_str(if *me { "#4cc9f0" } else { "#e6edf3" });
            ctx.set_text_align("left");
            ctx.fill_text(name, w / 2.0 - 160.0, y)?;
            ctx.set_text_align("right");
            ctx.fill_text(&k.to_string(), w / 2.0 + 100.0, y)?;
            ctx.fill_text(&d.to_string(), w / 2.0 + 150.0, y)?;
        }
    }
    if hud.debug {
        ctx.set_text_align("left");
        ctx.set_font("12px ui-monospace, monospace");
        ctx.set_fill_style_str("rgba(13,17,23,0.8)");
        ctx.fill_rect(8.0, 8.0, 290.0, 16.0 * m.debug.len() as f64 + 10.0);
        ctx.set_fill_style_str("#7ee787");
        for (i, line) in m.debug.iter().enumerate() {
            ctx.fill_text(line, 16.0, 24.0 + 16.0 * i as f64)?;
        }
    }
    ctx.set_text_align("left");
    ctx.set_font("12px system-ui, sans-serif");
    ctx.set_fill_style_str("#8b949e");
    ctx.fill_text(
        "WASD move · mouse aim · click/space fire · Tab scores · F3 debug",
        12.0,
        h - 12.0,
    )?;
    Ok(())
}
