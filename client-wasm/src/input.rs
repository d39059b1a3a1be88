//! Keys to intents. The client sends an `Input` only when the intent changes, with an
//! increasing sequence number, so a held key costs nothing and the server can drop replays.
//! The page holds the controls with keys, and with whatever the touch controls and a gamepad
//! hold (each an [`Intent`], see [`Device`]); a bot holds them with an [`Intent`] it decided.
//! All of them combine into one intent: any source thrusts or fires, turns add up (so left
//! and right from two sources cancel, like two keys).

use shared::protocol::Input;

/// What the pilot holds: engine, turn, trigger.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Intent {
    /// Engine on.
    pub thrust: bool,
    /// −1, 0 or +1 (+1 counter-clockwise).
    pub turn: i8,
    /// Trigger held.
    pub fire: bool,
}

/// A source of controls other than the keyboard, each holding an [`Intent`] of its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Device {
    /// The on-screen stick and fire button.
    Touch,
    /// The first connected gamepad.
    Gamepad,
}

/// The pilot's controls as the keyboard, the touch controls and a gamepad (or a bot) hold
/// them.
#[derive(Clone, Debug, Default)]
pub struct Controls {
    thrust: bool,
    left: bool,
    right: bool,
    fire: bool,
    touch: Intent,
    gamepad: Intent,
    seq: u32,
    sent: Option<Intent>,
}

/// What a key does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Main engine.
    Thrust,
    /// Turn counter-clockwise.
    Left,
    /// Turn clockwise.
    Right,
    /// Fire.
    Fire,
}

/// Maps a `KeyboardEvent.code` to an action: arrows or WASD to fly, Space to fire.
pub fn action(code: &str) -> Option<Action> {
    match code {
        "ArrowUp" | "KeyW" => Some(Action::Thrust),
        "ArrowLeft" | "KeyA" => Some(Action::Left),
        "ArrowRight" | "KeyD" => Some(Action::Right),
        "Space" => Some(Action::Fire),
        _ => None,
    }
}

impl Controls {
    /// A key went down or up; returns whether the key is one of the game's.
    pub fn key(&mut self, code: &str, down: bool) -> bool {
        let Some(action) = action(code) else { return false };
        match action {
            Action::Thrust => self.thrust = down,
            Action::Left => self.left = down,
            Action::Right => self.right = down,
            Action::Fire => self.fire = down,
        }
        true
    }

    /// What a device holds now (a gamepad that disappeared holds nothing).
    pub fn set(&mut self, device: Device, intent: Intent) {
        match device {
            Device::Touch => self.touch = intent,
            Device::Gamepad => self.gamepad = intent,
        }
    }

    /// Releases every key and what the touch controls held (the window lost focus: keyup
    /// and touchend events will not come). A gamepad is polled again on the next frame.
    pub fn release_all(&mut self) {
        self.thrust = false;
        self.left = false;
        self.right = false;
        self.fire = false;
        self.touch = Intent::default();
    }

    /// Holds exactly `intent` (what a bot decided), as if its keys were down and all others up.
    pub fn hold(&mut self, intent: Intent) {
        self.thrust = intent.thrust;
        self.left = intent.turn > 0;
        self.right = intent.turn < 0;
        self.fire = intent.fire;
    }

    /// What the controls hold now, every source combined; left and right together cancel.
    pub fn intent(&self) -> Intent {
        let keys = Intent { thrust: self.thrust, turn: self.left as i8 - self.right as i8, fire: self.fire };
        let all = [keys, self.touch, self.gamepad];
        Intent {
            thrust: all.iter().any(|i| i.thrust),
            turn: all.iter().map(|i| i.turn).sum::<i8>().signum(),
            fire: all.iter().any(|i| i.fire),
        }
    }

    /// The input to send, if the intent changed since the last one sent.
    pub fn next_input(&mut self) -> Option<Input> {
        let now = self.intent();
        if self.sent == Some(now) {
            return None;
        }
        self.sent = Some(now);
        self.seq += 1;
        // The session names the tick when it sends it.
        Some(Input { seq: self.seq, tick: 0, thrust: now.thrust, turn: now.turn, fire: now.fire })
    }

    /// Forget what was sent (after a reconnect, the new session knows nothing); the sequence
    /// keeps increasing.
    pub fn resend(&mut self) {
        self.sent = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Arrows and WASD map to the same actions; other keys are not the game's.
    #[test]
    fn key_mapping() {
        assert_eq!(action("ArrowUp"), Some(Action::Thrust));
        assert_eq!(action("KeyW"), Some(Action::Thrust));
        assert_eq!(action("KeyA"), Some(Action::Left));
        assert_eq!(action("ArrowRight"), Some(Action::Right));
        assert_eq!(action("Space"), Some(Action::Fire));
        assert_eq!(action("KeyQ"), None);
    }

    /// Inputs are sent on change only, with increasing sequence numbers; left+right cancel.
    #[test]
    fn inputs_on_change_only() {
        let mut c = Controls::default();
        let first = c.next_input().expect("the initial state is sent once");
        assert_eq!((first.seq, first.thrust, first.turn), (1, false, 0));
        assert_eq!(c.next_input(), None);
        c.key("ArrowUp", true);
        c.key("ArrowLeft", true);
        let i = c.next_input().unwrap();
        assert_eq!((i.seq, i.thrust, i.turn, i.fire), (2, true, 1, false));
        assert_eq!(c.next_input(), None, "holding keys sends nothing more");
        c.key("ArrowRight", true);
        assert_eq!(c.next_input().unwrap().turn, 0);
        c.release_all();
        let i = c.next_input().unwrap();
        assert_eq!((i.seq, i.thrust, i.turn), (4, false, 0));
        c.resend();
        assert_eq!(c.next_input().unwrap().seq, 5);
    }

    /// Keys, touch and a gamepad combine: any of them thrusts or fires, turns add up, and a
    /// device that lets go releases only what it held.
    #[test]
    fn devices_combine_into_one_intent() {
        let mut c = Controls::default();
        c.key("ArrowLeft", true);
        c.set(Device::Touch, Intent { thrust: true, turn: 1, fire: false });
        assert_eq!(c.intent(), Intent { thrust: true, turn: 1, fire: false });
        c.set(Device::Gamepad, Intent { thrust: false, turn: -1, fire: true });
        assert_eq!(c.intent(), Intent { thrust: true, turn: 1, fire: true }, "two lefts outweigh one right");
        c.key("ArrowLeft", false);
        assert_eq!(c.intent().turn, 0, "touch left and pad right cancel");
        c.set(Device::Gamepad, Intent::default());
        assert_eq!(c.intent(), Intent { thrust: true, turn: 1, fire: false });
        c.release_all();
        assert_eq!(c.intent(), Intent::default());
    }

    /// Holding an intent is the same as pressing its keys: same inputs, sent on change only.
    #[test]
    fn holding_an_intent_presses_its_keys() {
        let mut keys = Controls::default();
        keys.key("ArrowUp", true);
        keys.key("ArrowRight", true);
        keys.key("Space", true);
        let mut bot = Controls::default();
        bot.hold(Intent { thrust: true, turn: -1, fire: true });
        assert_eq!(bot.intent(), keys.intent());
        assert_eq!(bot.next_input(), keys.next_input());
        bot.hold(Intent { thrust: true, turn: -1, fire: true });
        assert_eq!(bot.next_input(), None, "the same intent again sends nothing");
        bot.hold(Intent { turn: 1, ..Intent::default() });
        assert_eq!(bot.next_input().map(|i| (i.seq, i.thrust, i.turn, i.fire)), Some((2, false, 1, false)));
    }
}
