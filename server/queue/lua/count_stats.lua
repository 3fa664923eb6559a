-- count_stats: count the statistics of the events after the hall's stats_seq, at most
-- A.limit of them (stats.lua); any process may run it, at any time, as often as it likes.
return done(count_stats(A.limit or STATS_BATCH))
