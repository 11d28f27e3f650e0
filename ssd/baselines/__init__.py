"""Reference systems that are not neural networks: the ASVspoof 2019 LFCC-GMM baseline."""
