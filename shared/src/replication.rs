//! Field-level replication: declare a replicated struct once with [`replicated!`](crate::replicated) and get
//! change masks, partial encoding and patch application for free.
//!
//! A delta carries, for each entity that changed, a [`Patch`]: a bit mask of the fields that
//! differ from the client's baseline followed by just those fields. No per-field delta code
//! is written by hand: adding a field to a `replicated!` struct is all it takes (and a bump of
//! [`crate::protocol::PROTOCOL_VERSION`], since the wire changes).

use bincode::de::Decoder;
use bincode::enc::Encoder;
use bincode::error::{DecodeError, EncodeError};
use bincode::{Decode, Encode};

/// A struct whose fields replicate individually. Implemented by [`replicated!`](crate::replicated); do not
/// implement it by hand.
pub trait Replicated: Clone + PartialEq + Default {
    /// Number of fields (at most 32).
    const FIELD_COUNT: u32;
    /// The declaration as text, `Name { field: Type, ... }`: part of the wire's fingerprint
    /// (`shared/tests/wire_fingerprint.rs`).
    const SCHEMA: &'static str;
    /// Mask with one bit per field: bit `i` is field `i` in declaration order.
    fn diff_mask(&self, base: &Self) -> u32;
    /// Encodes the fields whose bit is set in `mask`, in declaration order.
    ///
    /// # Errors
    /// Whatever the encoder reports.
    fn encode_fields<E: Encoder>(&self, mask: u32, encoder: &mut E) -> Result<(), EncodeError>;
    /// Decodes the fields whose bit is set in `mask` into `self`.
    ///
    /// # Errors
    /// Whatever the decoder reports.
    fn decode_fields<D: Decoder>(&mut self, mask: u32, decoder: &mut D) -> Result<(), DecodeError>;
    /// Copies the fields whose bit is set in `mask` from `src`.
    fn apply_fields(&mut self, mask: u32, src: &Self);

    /// Mask of every field.
    #[must_use]
    fn all_fields() -> u32 {
        if Self::FIELD_COUNT >= 32 {
            u32::MAX
        } else {
            (1u32 << Self::FIELD_COUNT) - 1
        }
    }
}

/// The fields of a `T` that changed: `mask` says which, `value` holds them (the other
/// fields of `value` are defaults and mean nothing).
#[derive(Clone, Debug, PartialEq)]
pub struct Patch<T> {
    /// Which fields this patch carries.
    pub mask: u32,
    /// The carried fields' new values.
    pub value: T,
}

impl<T: Replicated> Patch<T> {
    /// The patch that turns `base` into `now`, or `None` when they are equal.
    #[must_use]
    pub fn diff(base: &T, now: &T) -> Option<Patch<T>> {
        let mask = now.diff_mask(base);
        (mask != 0).then(|| {
            let mut value = T::default();
            value.apply_fields(mask, now);
            Patch { mask, value }
        })
    }

    /// Applies the patch to `target`.
    pub fn apply(&self, target: &mut T) {
        target.apply_fields(self.mask, &self.value);
    }
}

impl<T: Replicated> Encode for Patch<T> {
    fn encode<E: Encoder>(&self, encoder: &mut E) -> Result<(), EncodeError> {
        self.mask.encode(encoder)?;
        self.value.encode_fields(self.mask, encoder)
    }
}

impl<T: Replicated, Ctx> Decode<Ctx> for Patch<T> {
    fn decode<D: Decoder<Context = Ctx>>(decoder: &mut D) -> Result<Self, DecodeError> {
        let mask = u32::decode(decoder)?;
        if mask == 0 || mask & !T::all_fields() != 0 {
            return Err(DecodeError::Other(
                "patch mask names no field or an unknown field",
            ));
        }
        let mut value = T::default();
        value.decode_fields(mask, decoder)?;
        Ok(Patch { mask, value })
    }
}

impl<'de, T: Replicated, Ctx> bincode::BorrowDecode<'de, Ctx> for Patch<T> {
    fn borrow_decode<D: bincode::de::BorrowDecoder<'de, Context = Ctx>>(
        decoder: &mut D,
    ) -> Result<Self, DecodeError> {
        Decode::decode(decoder)
    }
}

/// Declares a struct whose fields replicate one by one (see the [module docs](self)).
///
/// The struct and every field are `pub` (the view is what the wire carries; nothing in it
/// is private). Every field type must be `Clone + PartialEq + Default + bincode::Encode +
/// Decode`. At most 32 fields.
///
/// ```
/// tickwire_shared::replicated! {
///     /// A door's replicated state.
///     pub struct DoorNet {
///         /// Whether it is open.
///         pub open: bool,
///         /// Who opened it last.
///         pub opened_by: u32,
///     }
/// }
/// use tickwire_shared::replication::Patch;
/// let closed = DoorNet::default();
/// let open = DoorNet { open: true, ..DoorNet::default() };
/// let patch = Patch::diff(&closed, &open).expect("changed");
/// assert_eq!(patch.mask, 0b01); // only `open` travels
/// let mut replica = closed.clone();
/// patch.apply(&mut replica);
/// assert_eq!(replica, open);
/// ```
#[macro_export]
macro_rules! replicated {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $( $(#[$fmeta:meta])* pub $field:ident : $ty:ty ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Debug, Default, PartialEq, bincode::Encode, bincode::Decode)]
        pub struct $name {
            $( $(#[$fmeta])* pub $field: $ty ),+
        }

        impl $crate::replication::Replicated for $name {
            const FIELD_COUNT: u32 = [$(stringify!($field)),+].len() as u32;
            const SCHEMA: &'static str = concat!(
                stringify!($name), " { ", $(stringify!($field), ": ", stringify!($ty), ", ",)+ "}"
            );

            fn diff_mask(&self, base: &Self) -> u32 {
                let mut mask = 0u32;
                let mut bit = 1u32;
                $(
                    if self.$field != base.$field {
                        mask |= bit;
                    }
                    bit <<= 1;
                )+
                let _ = bit;
                mask
            }

            fn encode_fields<E: bincode::enc::Encoder>(
                &self,
                mask: u32,
                encoder: &mut E,
            ) -> Result<(), bincode::error::EncodeError> {
                let mut bit = 1u32;
                $(
                    if mask & bit != 0 {
                        bincode::Encode::encode(&self.$field, encoder)?;
                    }
                    bit <<= 1;
                )+
                let _ = bit;
                Ok(())
            }

            fn decode_fields<D: bincode::de::Decoder>(
                &mut self,
                mask: u32,
                decoder: &mut D,
            ) -> Result<(), bincode::error::DecodeError> {
                let mut bit = 1u32;
                $(
                    if mask & bit != 0 {
                        self.$field = bincode::Decode::decode(decoder)?;
                    }
                    bit <<= 1;
                )+
                let _ = bit;
                Ok(())
            }

            fn apply_fields(&mut self, mask: u32, src: &Self) {
                let mut bit = 1u32;
                $(
                    if mask & bit != 0 {
                        self.$field.clone_from(&src.$field);
                    }
                    bit <<= 1;
                )+
                let _ = bit;
            }
        }
    };
}
