//! Packed argument headers. An export that would otherwise take a long run of positional scalars
//! (where two swapped `f64`s still compile) reads one `#[repr(C)]` struct that the host writes into
//! linear memory instead. Each header is declared once, here, with [`header!`]; the host's packer
//! (`src/wasm/headers.ts`) mirrors it by name and type, and `ig_header_layout` reports the struct as
//! Rust lays it out so a test can check the two agree field by field.

use crate::ffi::{self, report, ErrorCode};

/// Declares a header struct and its layout descriptor: `name@offset:type` per field, after the size.
macro_rules! header {
    ($(#[$meta:meta])* pub struct $name:ident = $id:literal { $($(#[$fmeta:meta])* pub $field:ident: $ty:ty,)* }) => {
        $(#[$meta])*
        #[repr(C)]
        pub struct $name {
            $($(#[$fmeta])* pub $field: $ty,)*
        }

        impl $name {
            pub const ID: u32 = $id;

            /// `size;field@offset:type;…` in declaration order.
            pub fn layout() -> String {
                // offset_of! is newer than Debian 12's rustc (1.63): measure on an uninitialised value.
                let value = core::mem::MaybeUninit::<$name>::uninit();
                let base = value.as_ptr();
                let mut out = format!("{}", core::mem::size_of::<$name>());
                $(
                    // SAFETY: addr_of! takes the field's address without reading or referencing it.
                    let at = unsafe { core::ptr::addr_of!((*base).$field) } as usize - base as usize;
                    out.push_str(&format!(";{}@{}:{}", stringify!($field), at, stringify!($ty).replace(' ', "")));
                )*
                out
            }
        }
    };
}

header! {
    /// `ig_modulate_advantages`: `rollouts` rollouts of `token_counts[r]` tokens laid out one after
    /// another, `queries` query spans with their shaped IG̃, `retrieved` retrieved-document spans.
    pub struct ModulationHeader = 1 {
        pub lambda: f64,
        pub token_counts: *const u32,
        pub rollout_advantages: *const f64,
        pub rollouts: u32,
        pub query_rollout: *const u32,
        pub query_start: *const u32,
        pub query_end: *const u32,
        pub query_ig: *const f64,
        pub queries: u32,
        pub retrieved_rollout: *const u32,
        pub retrieved_start: *const u32,
        pub retrieved_end: *const u32,
        pub retrieved: u32,
        /// 0 additive, 1 multiplicative.
        pub mode: u32,
        /// f32 slots in `advantages` and `mask`: must equal the rollouts' token total.
        pub out_len: u32,
        pub advantages: *mut f32,
        pub mask: *mut f32,
    }
}

header! {
    /// `ig_information_gain`: `steps` search steps in `groups` groups of `group_sizes[g]` steps, the
    /// shaping knobs, and the two f64 outputs (raw and shaped IG, one per step).
    pub struct InformationGainHeader = 2 {
        pub dead_zone: f64,
        pub negative_scale: f64,
        pub clip: f64,
        pub epsilon: f64,
        pub real: *const f64,
        pub counterfactual: *const f64,
        pub steps: u32,
        pub group_sizes: *const u32,
        pub groups: u32,
        /// 1: z-normalise shaped IG within each group.
        pub group_z: u32,
        pub raw: *mut f64,
        pub shaped: *mut f64,
    }
}

header! {
    /// `ig_gigpo_advantages`: `n` rollouts in `n_groups` groups, `turns[r]` turns each (`n_turns` in
    /// all, with their anchor-state ids), the outcome per rollout; out: one advantage per turn.
    pub struct GigpoHeader = 3 {
        pub gamma: f64,
        pub omega: f64,
        pub epsilon: f64,
        pub outcome: *const f64,
        pub n: u32,
        pub group_sizes: *const u32,
        pub n_groups: u32,
        pub turns: *const u32,
        pub anchors: *const u32,
        pub n_turns: u32,
        pub out: *mut f64,
    }
}

header! {
    /// `ig_igpo_advantages`: as GiGPO's layout, with the answer's probability under the prompt alone
    /// (`prompt_scores`, per rollout) and after each turn (`turn_scores`, per turn).
    pub struct IgpoHeader = 4 {
        pub gamma: f64,
        pub epsilon: f64,
        pub outcome: *const f64,
        pub prompt_scores: *const f64,
        pub n: u32,
        pub group_sizes: *const u32,
        pub n_groups: u32,
        pub turns: *const u32,
        pub turn_scores: *const f64,
        pub n_turns: u32,
        pub out: *mut f64,
    }
}

header! {
    /// `ig_discounted_returns`: `n_values` values laid out as `turns` (one per turn of `n` rollouts).
    pub struct DiscountedReturnsHeader = 5 {
        pub gamma: f64,
        pub values: *const f64,
        pub n_values: u32,
        pub group_sizes: *const u32,
        pub n_groups: u32,
        pub turns: *const u32,
        pub n: u32,
        pub out: *mut f64,
    }
}

header! {
    /// `ig_mr_search_advantages`: per turn a step reward and whether it has one (`rewarded`, bytes).
    pub struct MrSearchHeader = 6 {
        pub gamma: f64,
        pub step_rewards: *const f64,
        pub rewarded: *const u8,
        pub n_turns: u32,
        pub group_sizes: *const u32,
        pub n_groups: u32,
        pub turns: *const u32,
        pub n: u32,
        pub out: *mut f64,
    }
}

header! {
    /// `ig_rewards`: `n` responses (blob + `n + 1` offsets), `n_golds` gold answers, response i's
    /// golds `gold_index[i]..gold_index[i + 1]`; out: one reward per response.
    pub struct RewardsHeader = 7 {
        pub texts: *const u8,
        pub texts_len: u32,
        pub text_offsets: *const u32,
        pub n: u32,
        pub golds: *const u8,
        pub golds_len: u32,
        pub gold_offsets: *const u32,
        pub n_golds: u32,
        pub gold_index: *const u32,
        /// 0 exact match, 1 F1.
        pub metric: u32,
        /// 1: score the text inside the last `<answer>…</answer>`; 0: the whole response.
        pub extract: u32,
        pub out: *mut f64,
    }
}

header! {
    /// `ig_stepsearch_rewards`: `n_texts` documents (blob + offsets), `n` rollouts with their gold
    /// passages, search steps and the documents each step retrieved; out: one reward per step.
    pub struct StepSearchHeader = 8 {
        pub index: u32,
        pub texts: *const u8,
        pub texts_len: u32,
        pub text_offsets: *const u32,
        pub n_texts: u32,
        pub n: u32,
        pub gold_offsets: *const u32,
        pub gold_ids: *const u32,
        pub step_offsets: *const u32,
        pub doc_offsets: *const u32,
        pub doc_ids: *const u32,
        pub out: *mut f64,
    }
}

header! {
    /// `ig_bm25_sample`: `count` passages of index `index` drawn with the 64-bit seed, skipping
    /// passages that contain one of `n_golds` answers and the `n_exclude` listed ids.
    pub struct SampleHeader = 9 {
        pub index: u32,
        pub count: u32,
        pub seed_lo: u32,
        pub seed_hi: u32,
        pub golds: *const u8,
        pub golds_len: u32,
        pub gold_offsets: *const u32,
        pub n_golds: u32,
        pub exclude: *const u32,
        pub n_exclude: u32,
        pub out: *mut u32,
    }
}

header! {
    /// `ig_tok_build`: the vocabulary (strings + ids), merges as id triples, the pre-tokenizer
    /// pattern code and flags, and the added tokens with their flag bytes.
    pub struct TokenizerHeader = 10 {
        pub vocab: *const u8,
        pub vocab_len: u32,
        pub vocab_offsets: *const u32,
        pub vocab_ids: *const u32,
        pub n_vocab: u32,
        pub merges: *const u32,
        pub n_merges: u32,
        /// 0 none, 1 GPT-2, 2 cl100k/Llama-3, 3 Qwen2, 4 o200k.
        pub pattern: u32,
        pub add_prefix_space: u32,
        pub ignore_merges: u32,
        pub added: *const u8,
        pub added_len: u32,
        pub added_offsets: *const u32,
        pub added_ids: *const u32,
        pub added_flags: *const u8,
        pub n_added: u32,
    }
}

header! {
    /// `ig_tok_build_wordpiece`: the vocabulary and added tokens as in [`TokenizerHeader`], the
    /// unknown token and continuation prefix (UTF-8), and the BERT normalizer's switches.
    pub struct WordPieceHeader = 11 {
        pub vocab: *const u8,
        pub vocab_len: u32,
        pub vocab_offsets: *const u32,
        pub vocab_ids: *const u32,
        pub n_vocab: u32,
        pub unk: *const u8,
        pub unk_len: u32,
        pub prefix: *const u8,
        pub prefix_len: u32,
        pub max_input_chars_per_word: u32,
        /// Bits: 1 a BertNormalizer, 2 clean_text, 4 handle_chinese_chars, 8 strip_accents, 16 lowercase.
        pub normalizer: u32,
        /// 0 BertPreTokenizer, 1 WhitespaceSplit, 2 none.
        pub pre_tokenizer: u32,
        /// 1: the WordPiece decoder's cleanup.
        pub cleanup: u32,
        pub added: *const u8,
        pub added_len: u32,
        pub added_offsets: *const u32,
        pub added_ids: *const u32,
        pub added_flags: *const u8,
        pub n_added: u32,
    }
}

/// Reads a header the host wrote; `None` for a null or misaligned pointer (reported by the caller).
///
/// # Safety
/// A non-null, aligned `ptr` points at a whole `T` written by the host's packer.
pub unsafe fn read<'a, T>(ptr: *const T) -> Option<&'a T> {
    if ptr.is_null() || (ptr as usize) % core::mem::align_of::<T>() != 0 {
        return None;
    }
    Some(&*ptr)
}

/// Reports a header pointer that [`read`] refused.
pub fn refused(what: &str) -> i32 {
    report(ErrorCode::InvalidArgument, &format!("{what}: header pointer is null or misaligned"))
}

/// Puts header `id`'s layout (see [`header!`]) in the output slot as UTF-8; returns its length.
#[no_mangle]
pub extern "C" fn ig_header_layout(id: u32) -> i32 {
    let layout = match id {
        ModulationHeader::ID => ModulationHeader::layout(),
        InformationGainHeader::ID => InformationGainHeader::layout(),
        GigpoHeader::ID => GigpoHeader::layout(),
        IgpoHeader::ID => IgpoHeader::layout(),
        DiscountedReturnsHeader::ID => DiscountedReturnsHeader::layout(),
        MrSearchHeader::ID => MrSearchHeader::layout(),
        RewardsHeader::ID => RewardsHeader::layout(),
        StepSearchHeader::ID => StepSearchHeader::layout(),
        SampleHeader::ID => SampleHeader::layout(),
        TokenizerHeader::ID => TokenizerHeader::layout(),
        WordPieceHeader::ID => WordPieceHeader::layout(),
        other => return report(ErrorCode::InvalidArgument, &format!("no header with id {other}")),
    };
    let len = layout.len() as i32;
    ffi::set_out(layout.into_bytes());
    len
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_names_every_field_in_order_with_its_offset() {
        let layout = InformationGainHeader::layout();
        let fields: Vec<&str> = layout.split(';').collect();
        assert_eq!(fields.len(), 1 + 12);
        assert_eq!(fields[1], "dead_zone@0:f64");
        assert_eq!(fields[4], "epsilon@24:f64");
        assert!(fields[5].starts_with("real@32:*constf64"));
        assert_eq!(fields[0], core::mem::size_of::<InformationGainHeader>().to_string());
    }
}
