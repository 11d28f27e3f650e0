# shellcheck shell=bash
# Where corpora live on this machine. Leave ASVSPOOF2019_LA empty to run on the bundled mini corpus.
ASVSPOOF2019_LA=${ASVSPOOF2019_LA:-}   # root of ASVspoof 2019 LA (holds ASVspoof2019_LA_cm_protocols/)
