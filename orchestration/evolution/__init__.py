"""Evolution: tune agent parameters by genetic search, adopt only what wins out of sample.

    config        evolve.yaml as typed, closed models
    genes         bounded genes and the genome
    space         the quant genome space (bounds from the models it tunes)
    llm_space     the LLM genome space (fields of an agent spec)
    ga            tournament selection, crossover, mutation, elitism
    walkforward   train / embargo / validation folds
    evaluate      a quant genome's fitness over a window, net of fees and slippage
    llm_evaluate  an LLM genome's, through the call cache and budget, net of LLM cost too
    backends      serial, local process pool, Ray
    pbo           probability of backtest overfitting (CSCV)
    store         every run, generation, evaluation and fold in the run database
    engine        the search per fold and the adoption rule
    report        the JSON document and the fitness plot
    run           everything wired from a config; the adopted genome saved

This package imports nothing itself: pool workers import only the light modules they need
(quant evaluation), never the LLM stack; `from orchestration.evolution.run import evolve`.
"""
