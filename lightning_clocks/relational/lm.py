"""Finetuning a causal language model on transitive inference with an exception (docs/method.md), via Hugging Face.

Items are named entities (teams), item 0 the strongest: ``invented`` team names that this module generates
from a seed, ``real`` (NBA) team names in a seeded random order, or an ordering read from a text file (one
name a line, strongest first). Every ordered pair ``(i, j)`` becomes a two-shot prompt::

    Q: Will the Brandor Herons win against the Vimex Otters? A: Yes.
    Q: Will the Stelan Comets win against the Drukor Lynx? A: No.
    Q: Will the <item i> win against the <item j>? A:

The demonstrations use four invented names outside the entity set, the same in every prompt. The model is
trained on the answer token only (cross-entropy over the vocabulary at the last position, target " Yes" when
the first item wins, " No" when it loses). Its output for a pair is ``log P(" Yes") - log P(" No")``, so its
probability that the first item wins is P(Yes) renormalised over the two answers, ``sigmoid(output)``
(scored for every ordered pair by :class:`~lightning_clocks.relational.callback.PairClockCallback`).

**Padding.** All ``n * n`` prompts are tokenized once and left-padded to one common length (the longest
prompt), with an attention mask: a prompt occupies the same positions in every batch, in training and in
evaluation, and the answer is always predicted at the last position.

**Finetuning** (``finetuning``): ``full`` trains every weight; ``lora`` trains low-rank adapters (``peft``);
``probe`` trains the output layer only (untied from the input embeddings when they share weights). With
``anchor > 0`` the loss adds ``anchor / 2 * |theta - theta_0|^2`` over the trained weights: an L2 pull to
their initial values.

**Models** load by Hugging Face name or folder from the local cache only (``local_files_only``): download a
model first. The name ``tiny-random`` builds a tiny randomly initialised GPT-2 with a word-level tokenizer
over the prompts' words, for tests and smoke runs without any download.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any, Final

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from lightning_clocks.errors import ConfigError
from lightning_clocks.relational.data import split_batch
from lightning_clocks.relational.module import PairModule
from lightning_clocks.seeds import derive_seed

#: The name that builds a tiny random GPT-2 instead of loading a model.
TINY_RANDOM: Final = "tiny-random"
ENTITY_SOURCES: Final = ("invented", "real")
FINETUNING: Final = ("full", "lora", "probe")
DTYPES: Final = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
YES, NO = " Yes", " No"
INSTALL_HINT: Final = "pip install 'lightning-clocks[lm]'"

#: Real team names (the 30 NBA teams); ``entities: real`` orders them at random with the entity seed.
REAL_TEAM_NAMES: Final = (
    "Atlanta Hawks",
    "Boston Celtics",
    "Brooklyn Nets",
    "Charlotte Hornets",
    "Chicago Bulls",
    "Cleveland Cavaliers",
    "Dallas Mavericks",
    "Denver Nuggets",
    "Detroit Pistons",
    "Golden State Warriors",
    "Houston Rockets",
    "Indiana Pacers",
    "Los Angeles Clippers",
    "Los Angeles Lakers",
    "Memphis Grizzlies",
    "Miami Heat",
    "Milwaukee Bucks",
    "Minnesota Timberwolves",
    "New Orleans Pelicans",
    "New York Knicks",
    "Oklahoma City Thunder",
    "Orlando Magic",
    "Philadelphia 76ers",
    "Phoenix Suns",
    "Portland Trail Blazers",
    "Sacramento Kings",
    "San Antonio Spurs",
    "Toronto Raptors",
    "Utah Jazz",
    "Washington Wizards",
)

_ONSETS = ("b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "br", "dr", "gr", "kr", "st", "tr")
_VOWELS = ("a", "e", "i", "o", "u")
_CODAS = ("", "l", "n", "r", "s", "x")
_MASCOTS = (
    "Badgers",
    "Comets",
    "Falcons",
    "Foxes",
    "Herons",
    "Hornbills",
    "Jackals",
    "Lynxes",
    "Otters",
    "Owls",
    "Panthers",
    "Ravens",
    "Rams",
    "Sharks",
    "Stags",
    "Storks",
    "Vipers",
    "Wolves",
)
#: Entity-seed stream of the demonstration names (the entities themselves use stream 0).
_ENTITY_STREAM, _DEMONSTRATION_STREAM = 0, 1
NUM_DEMONSTRATION_NAMES: Final = 4


# --------------------------------------------------------------------------------------------- entities


def invented_team_names(count: int, seed: int, exclude: frozenset[str] = frozenset()) -> list[str]:
    """``count`` distinct invented team names ("Brandor Herons"), a function of ``seed`` only; none in ``exclude``."""
    generator = np.random.default_rng(seed)
    names: list[str] = []
    while len(names) < count:
        letters = [
            _ONSETS[generator.integers(len(_ONSETS))],
            _VOWELS[generator.integers(len(_VOWELS))],
            _ONSETS[generator.integers(len(_ONSETS))],
            _VOWELS[generator.integers(len(_VOWELS))],
            _CODAS[generator.integers(len(_CODAS))],
        ]
        name = f"{''.join(letters).capitalize()} {_MASCOTS[generator.integers(len(_MASCOTS))]}"
        if name not in names and name not in exclude:
            names.append(name)
    return names


def read_ordering(path: str | Path) -> list[str]:
    """Entity names from a text file, one a line, strongest first (blank lines and ``#`` comments skipped)."""
    try:
        lines = Path(path).read_text().splitlines()
    except OSError as error:
        raise ConfigError(f"model.entities={str(path)!r}: cannot read the ordering file ({error.strerror})") from None
    names = [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ConfigError(f"model.entities={str(path)!r} names an entity twice: {duplicates}")
    return names


def entity_names(source: str, num_items: int, seed: int = 0) -> list[str]:
    """The names of items ``0 .. num_items-1`` (strongest first) from ``invented``, ``real`` or an ordering file."""
    if source == "invented":
        return invented_team_names(num_items, derive_seed(seed, _ENTITY_STREAM))
    if source == "real":
        if num_items > len(REAL_TEAM_NAMES):
            raise ConfigError(
                f"model.entities='real' has {len(REAL_TEAM_NAMES)} team names, fewer than num_items={num_items}"
            )
        order = np.random.default_rng(derive_seed(seed, _ENTITY_STREAM)).permutation(len(REAL_TEAM_NAMES))
        return [REAL_TEAM_NAMES[index] for index in order[:num_items]]
    if not Path(source).is_file():
        raise ConfigError(
            f"model.entities={source!r} is neither {' nor '.join(ENTITY_SOURCES)} nor an existing ordering file"
        )
    names = read_ordering(source)
    if len(names) != num_items:
        raise ConfigError(
            f"model.entities={source!r} orders {len(names)} entities, but data.num_items={num_items}: they must match"
        )
    return names


def demonstration_names(entities: list[str], seed: int = 0) -> list[str]:
    """Four invented names, none of them an entity, for the two demonstrations of every prompt."""
    return invented_team_names(NUM_DEMONSTRATION_NAMES, derive_seed(seed, _DEMONSTRATION_STREAM), frozenset(entities))


# --------------------------------------------------------------------------------------------- prompts


def question(first: str, second: str) -> str:
    """The question about one ordered pair, ending before the answer."""
    return f"Q: Will the {first} win against the {second}? A:"


def pair_prompt(first: str, second: str, demonstrations: list[str]) -> str:
    """The two-shot prompt asking whether ``first`` wins against ``second`` (answer a Yes, then a No)."""
    a, b, c, d = demonstrations
    return f"{question(a, b)}{YES}.\n{question(c, d)}{NO}.\n{question(first, second)}"


def all_prompts(names: list[str], demonstrations: list[str]) -> list[str]:
    """The prompt of every ordered pair ``(i, j)``, ``i == j`` included, at index ``i * n + j``."""
    return [pair_prompt(first, second, demonstrations) for first in names for second in names]


# --------------------------------------------------------------------------------------------- models


def _transformers() -> Any:
    """The ``transformers`` module, or a ConfigError saying how to install it."""
    try:
        import transformers
    except ImportError:
        raise ConfigError(f"the language-model pair module needs transformers: {INSTALL_HINT}") from None
    return transformers


def tiny_random_model(prompts: list[str], n_layer: int = 2, n_embd: int = 32, n_head: int = 2) -> tuple[Any, Any]:
    """A tiny randomly initialised GPT-2 and a word-level tokenizer over the words of ``prompts`` (no download).

    The tokenizer splits on whitespace and punctuation (``"A:"`` is ``"A"``, ``":"``); the answers " Yes" and
    " No" are single words. Initialisation uses the global torch seed.
    """
    transformers = _transformers()
    from tokenizers import Tokenizer, models, pre_tokenizers

    splitter = pre_tokenizers.Whitespace()
    words = sorted({word for text in [*prompts, YES, NO] for word, _ in splitter.pre_tokenize_str(text)})
    specials = ["[PAD]", "[UNK]", "[EOS]"]
    vocabulary = {token: index for index, token in enumerate([*specials, *words])}
    tokenizer_object = Tokenizer(models.WordLevel(vocabulary, unk_token="[UNK]"))
    tokenizer_object.pre_tokenizer = splitter
    tokenizer = transformers.PreTrainedTokenizerFast(
        tokenizer_object=tokenizer_object, pad_token="[PAD]", unk_token="[UNK]", eos_token="[EOS]"
    )
    longest = max(len(splitter.pre_tokenize_str(text)) for text in prompts)
    config = transformers.GPT2Config(
        vocab_size=len(vocabulary),
        n_positions=max(64, 2 * longest),
        n_layer=n_layer,
        n_embd=n_embd,
        n_head=n_head,
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        bos_token_id=vocabulary["[EOS]"],
        eos_token_id=vocabulary["[EOS]"],
        pad_token_id=vocabulary["[PAD]"],
    )
    return transformers.GPT2LMHeadModel(config), tokenizer


def load_language_model(name_or_path: str, dtype: str) -> tuple[Any, Any]:
    """A causal language model and its tokenizer from a local folder or the local Hugging Face cache (no download)."""
    transformers = _transformers()
    from packaging.version import Version

    dtype_key = "dtype" if Version(transformers.__version__) >= Version("4.56") else "torch_dtype"
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(name_or_path, local_files_only=True)
        model = transformers.AutoModelForCausalLM.from_pretrained(
            name_or_path, local_files_only=True, **{dtype_key: DTYPES[dtype]}
        )
    except OSError as error:
        raise ConfigError(
            f"model.model={name_or_path!r} is neither a model folder nor in the local Hugging Face cache "
            f"(models are never downloaded here): download it first, e.g. `hf download {name_or_path}`, "
            f"or give a folder ({type(error).__name__})"
        ) from None
    return model, tokenizer


def prepare_tokenizer(tokenizer: Any) -> Any:
    """Left padding, and a pad token (the end-of-sequence or unknown token) if the tokenizer has none."""
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        fallback = tokenizer.eos_token or tokenizer.unk_token
        if fallback is None:
            raise ConfigError("the model's tokenizer has no pad, end-of-sequence or unknown token to pad with")
        tokenizer.pad_token = fallback
    return tokenizer


def answer_token_ids(tokenizer: Any, prompt: str) -> tuple[int, int]:
    """The token ids of " Yes" and " No" as they follow ``prompt``; each must be exactly one token."""
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    with_special = tokenizer(prompt)["input_ids"]
    if with_special[len(with_special) - len(prompt_ids) :] != prompt_ids:
        raise ConfigError("the model's tokenizer appends special tokens after a prompt; the answer must come last")
    answers = []
    for answer in (YES, NO):
        full = tokenizer(prompt + answer, add_special_tokens=False)["input_ids"]
        if full[: len(prompt_ids)] != prompt_ids or len(full) != len(prompt_ids) + 1:
            raise ConfigError(
                f"the model's tokenizer does not encode the answer {answer!r} as one token after a prompt"
            )
        answers.append(full[-1])
    return answers[0], answers[1]


def _untie_output_layer(model: Any) -> nn.Module:
    """The output layer, given its own weight if it shares it with the input embeddings."""
    output = model.get_output_embeddings()
    if output.weight is model.get_input_embeddings().weight:
        output.weight = nn.Parameter(output.weight.detach().clone())
        model.config.tie_word_embeddings = False
    return output


def _with_lora(model: Any, rank: int, alpha: float, target_modules: list[str] | None) -> Any:
    """``model`` wrapped with LoRA adapters (peft), only the adapters trainable."""
    try:
        import peft
    except ImportError:
        raise ConfigError(f"model.finetuning='lora' needs peft: {INSTALL_HINT}") from None
    config = peft.LoraConfig(
        r=rank, lora_alpha=alpha, target_modules=target_modules, lora_dropout=0.0, bias="none", task_type="CAUSAL_LM"
    )
    try:
        return peft.get_peft_model(model, config)
    except ValueError as error:
        raise ConfigError(
            f"model.lora_target_modules={target_modules!r} does not fit this model: {error}; name the layers to adapt"
        ) from None


# --------------------------------------------------------------------------------------------- module


class LanguageModelPairModule(PairModule):
    """A causal language model answering two-shot Yes/No prompts about ordered pairs of entities."""

    family = "lm"

    def __init__(
        self,
        num_items: int = 9,
        model: str = TINY_RANDOM,
        entities: str = "invented",
        entity_seed: int = 0,
        finetuning: str = "full",
        lora_rank: int = 8,
        lora_alpha: float = 16.0,
        lora_target_modules: list[str] | None = None,
        anchor: float = 0.0,
        dtype: str = "float32",
        lr: float = 1e-5,
        **kwargs: Any,
    ) -> None:
        """
        Args:
            num_items: n, linked from the data by the CLI.
            model: a Hugging Face model name (loaded from the local cache only) or folder; ``tiny-random`` builds
                a tiny random GPT-2 for tests.
            entities: ``invented`` team names, ``real`` team names, or the path of an ordering file (one name a
                line, strongest first, exactly num_items names).
            entity_seed: seed of the invented names, of the order of the real names and of the demonstrations.
            finetuning: ``full``, ``lora`` (peft adapters) or ``probe`` (the output layer only).
            lora_rank: rank of the LoRA adapters.
            lora_alpha: LoRA scaling numerator.
            lora_target_modules: layers that get adapters; null: peft's default for the model type.
            anchor: strength of the L2 pull of the trained weights to their initial values (0: none).
            dtype: weights' dtype when loading: ``float32``, ``bfloat16`` or ``float16``.
            lr: learning rate.
            **kwargs: the optimizer settings of :class:`~lightning_clocks.relational.module.PairModule` (the loss is
                always logistic: the answer token's cross-entropy).
        """
        super().__init__(num_items, lr, "logistic", **kwargs)
        if finetuning not in FINETUNING:
            raise ConfigError(f"model.finetuning={finetuning!r} is unknown: choose one of {list(FINETUNING)}")
        if dtype not in DTYPES:
            raise ConfigError(f"model.dtype={dtype!r} is unknown: choose one of {sorted(DTYPES)}")
        if not anchor >= 0:
            raise ConfigError(f"model.anchor={anchor} is invalid: the L2 pull must be >= 0")
        self.anchor = anchor
        self.entity_names = entity_names(entities, num_items, entity_seed)
        self.demonstrations = demonstration_names(self.entity_names, entity_seed)
        prompts = all_prompts(self.entity_names, self.demonstrations)
        if model == TINY_RANDOM:
            language_model, tokenizer = tiny_random_model(prompts)
        else:
            language_model, tokenizer = load_language_model(model, dtype)
        self.tokenizer = prepare_tokenizer(tokenizer)
        self.yes_id, self.no_id = answer_token_ids(self.tokenizer, prompts[1])
        encoded = self.tokenizer(prompts, padding=True, return_tensors="pt")
        self.register_buffer("prompt_ids", encoded["input_ids"], persistent=False)
        self.register_buffer("prompt_mask", encoded["attention_mask"], persistent=False)
        self.keeps_last_logits = "logits_to_keep" in inspect.signature(language_model.forward).parameters
        if finetuning == "probe":
            language_model.requires_grad_(False)
            _untie_output_layer(language_model).requires_grad_(True)
        elif finetuning == "lora":
            language_model = _with_lora(language_model, lora_rank, lora_alpha, lora_target_modules)
        self.language_model = language_model
        self.initial_weights = nn.Module()
        if anchor > 0:
            for index, parameter in enumerate(self.trained_parameters()):
                self.initial_weights.register_buffer(f"w{index}", parameter.detach().clone(), persistent=False)

    @property
    def item_names(self) -> list[str]:
        """The entity names, strongest first."""
        return self.entity_names

    def trained_parameters(self) -> list[nn.Parameter]:
        """The weights that finetuning changes."""
        return [parameter for parameter in self.language_model.parameters() if parameter.requires_grad]

    def prompts_of(self, pairs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Token ids and attention mask ``[B, T]`` of the left-padded prompts of pairs ``LongTensor[B, 2]``."""
        index = pairs[:, 0] * self.num_items + pairs[:, 1]
        return self.prompt_ids[index], self.prompt_mask[index]

    def answer_logits(self, pairs: torch.Tensor) -> torch.Tensor:
        """Next-token logits ``[B, vocab]`` at the end of each pair's prompt (float32)."""
        input_ids, attention_mask = self.prompts_of(pairs)
        extra = {"logits_to_keep": 1} if self.keeps_last_logits else {}
        logits = self.language_model(input_ids=input_ids, attention_mask=attention_mask, **extra).logits
        return logits[:, -1].float()

    def pair_outputs(self, pairs: torch.Tensor) -> torch.Tensor:
        """``log P(" Yes") - log P(" No")``: the logit of P(Yes) renormalised over the two answers."""
        log_probs = F.log_softmax(self.answer_logits(pairs), dim=-1)
        return log_probs[:, self.yes_id] - log_probs[:, self.no_id]

    def anchor_penalty(self) -> torch.Tensor:
        """``anchor / 2 * |theta - theta_0|^2`` over the trained weights (0 without an anchor)."""
        if self.anchor == 0:
            return torch.zeros((), device=self.device)
        initial = list(self.initial_weights.buffers())
        squared = sum(
            (weight.float() - start.float()).square().sum()
            for weight, start in zip(self.trained_parameters(), initial, strict=True)
        )
        return 0.5 * self.anchor * squared

    def training_loss(self, batch: torch.Tensor) -> torch.Tensor:
        """Cross-entropy of the answer token (" Yes" if the first item wins, else " No"), plus the anchor."""
        pairs, labels = split_batch(batch)
        yes = torch.full_like(labels, self.yes_id, dtype=torch.long)
        targets = torch.where(labels > 0, yes, torch.full_like(yes, self.no_id))
        return F.cross_entropy(self.answer_logits(pairs), targets) + self.anchor_penalty()
