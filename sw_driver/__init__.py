"""Host side: the public generation API, back-ends and the ``snnfpga`` command line."""
