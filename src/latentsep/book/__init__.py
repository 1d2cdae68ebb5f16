"""The book's tooling: executing the chapters (``build``), their Colab copies (``colab``),
papermill sweeps (``sweep``), numbers recorded in notebooks (``report``) and figures with
sound beside them (``plots``). The top layer: it reads the package, nothing reads it."""
