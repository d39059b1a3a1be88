//! Draws a [`Scene`] on a 2D canvas. No decisions here: every position, colour and string was
//! computed by the plain-Rust modules.

use crate::scene::{Align, Prim, Scene};
use web_sys::CanvasRenderingContext2d;

/// Draws `scene` at device-pixel ratio `dpr` (scene coordinates are CSS pixels).
pub(crate) fn draw(ctx: &CanvasRenderingContext2d, scene: &Scene, width: f64, height: f64, dpr: f64) {
    let _ = ctx.set_transform(dpr, 0.0, 0.0, dpr, 0.0, 0.0);
    ctx.set_fill_style_str(scene.background);
    ctx.fill_rect(0.0, 0.0, width, height);
    for prim in &scene.prims {
        match prim {
            Prim::Poly { points, closed, stroke, fill, width } => {
                let Some(first) = points.first() else { continue };
                ctx.begin_path();
                ctx.move_to(first.x as f64, first.y as f64);
                for p in &points[1..] {
                    ctx.line_to(p.x as f64, p.y as f64);
                }
                if *closed {
                    ctx.close_path();
                }
                if let Some(fill) = fill {
                    ctx.set_fill_style_str(fill);
                    ctx.fill();
                }
                ctx.set_stroke_style_str(stroke);
                ctx.set_line_width(*width as f64);
                ctx.stroke();
            }
            Prim::Dot { pos, radius, color } => {
                ctx.begin_path();
                let _ = ctx.arc(pos.x as f64, pos.y as f64, *radius as f64, 0.0, std::f64::consts::TAU);
                ctx.set_fill_style_str(color);
                ctx.fill();
            }
            Prim::Rect { pos, size, color } => {
                ctx.set_fill_style_str(color);
                ctx.fill_rect(pos.x as f64, pos.y as f64, size.x as f64, size.y as f64);
            }
            Prim::Text { pos, text, size, color, align, max_width } => {
                ctx.set_font(&format!("{size}px system-ui, sans-serif"));
                ctx.set_text_align(match align {
                    Align::Left => "left",
                    Align::Center => "center",
                    Align::Right => "right",
                });
                ctx.set_fill_style_str(color);
                let _ = ctx.fill_text_with_max_width(text, pos.x as f64, pos.y as f64, *max_width as f64);
            }
        }
    }
}
