"""Installs the ``ssd`` package, its console scripts and optional extras."""

from setuptools import find_packages, setup

setup(
    name="ssd",
    version="0.1.0",
    description="Synthetic speech detection: ASVspoof countermeasure recipes and toolkit",
    python_requires=">=3.10",
    packages=find_packages(include=["ssd", "ssd.*"]),
    # The mini corpus's own neural vocoders (weights, training cards, provenance).
    package_data={"ssd.data.mini_la.neural": ["weights/*.pt", "weights/*.json", "weights/README.md"]},
    install_requires=[
        "torch>=2.1",
        "numpy>=2.0",
        "kaldiio>=2.18",
        "soundfile>=0.12",
        "pyyaml>=6.0",
        "tqdm>=4.60",
        "matplotlib>=3.7",
        # ssd-detect resamples recordings at other rates (polyphase filtering).
        "scipy>=1.10",
    ],
    extras_require={
        # Builds the bundled mini corpus: G.722 decoding and the WORLD vocoder attacks (pyworld 0.3.5
        # still imports pkg_resources, which newer setuptools removed).
        "corpus": ["G722>=1.2", "pyworld>=0.3.4", "setuptools<81"],
        # ssd-export --onnx and its equivalence test.
        "onnx": ["onnx", "onnxruntime"],
        # The ssl front end (wav2vec 2.0 / XLS-R, WavLM): transformers builds the encoders from a config
        # offline; safetensors holds the converted weights.
        "ssl": ["transformers>=4.40", "safetensors>=0.4"],
        "test": ["pytest>=7", "hypothesis>=6", "ruff>=0.4"],
    },
    entry_points={
        "console_scripts": [
            "ssd-compute-lfcc=ssd.bin.compute_lfcc:main",
            "ssd-score=ssd.bin.score:main",
            "ssd-detect=ssd.bin.detect:main",
            "ssd-export=ssd.bin.export:main",
            "ssd-pack=ssd.bin.pack:main",
            "ssd-import=ssd.bin.import_model:main",
            "ssd-convert-ssl=ssd.bin.convert_ssl:main",
            "ssd-train=ssd.bin.train:main",
            "ssd-infer=ssd.bin.infer:main",
            "ssd-model-info=ssd.bin.model_info:main",
        ],
    },
)
