# Cross-check of the project's agreement statistics against R's multilevel package.
# Usage: Rscript crosscheck.R <responses.csv> <respondent_scores.csv> <out.csv>
# responses.csv: council_id, respondent_key, enabler_id, item_id, score (full form only, one wave)
# respondent_scores.csv: council_id, unit_id, score (enabler level, one wave)
# Writes one row per statistic x unit x council ("" for cohort-level statistics).
suppressMessages(library(multilevel))
args <- commandArgs(trailingOnly = TRUE)
resp <- read.csv(args[1], stringsAsFactors = FALSE)
scores <- read.csv(args[2], stringsAsFactors = FALSE)
out <- list()
add <- function(stat, unit, council, value) {
  out[[length(out) + 1]] <<- data.frame(stat = stat, unit = unit, council = council, value = value)
}
for (e in sort(unique(resp$enabler_id))) {
  sub <- resp[resp$enabler_id == e, ]
  wide <- reshape(sub[, c("council_id", "respondent_key", "item_id", "score")],
                  idvar = c("council_id", "respondent_key"), timevar = "item_id", direction = "wide")
  items <- wide[, grep("^score\\.", names(wide)), drop = FALSE]
  # rwg.j: multilevel 2.7 drops incomplete rows (listwise) before computing
  r <- rwg.j(items, wide$council_id, ranvar = 2)
  for (i in seq_len(nrow(r))) add("rwg_j_listwise", e, as.character(r$grpid[i]), r$rwg.j[i])
  complete <- stats::complete.cases(items)
  a <- ad.m(items[complete, , drop = FALSE], wide$council_id[complete])
  for (i in seq_len(nrow(a))) add("ad_m_complete", e, as.character(a$grpid[i]), a$AD.M[i])
  add("alpha", e, "", cronbach(items)$Alpha)
  s <- scores[scores$unit_id == e & !is.na(scores$score), ]
  m <- aov(score ~ as.factor(council_id), data = s)
  add("icc1", e, "", ICC1(m))
  add("icc2", e, "", ICC2(m))
}
write.csv(do.call(rbind, out), args[3], row.names = FALSE)
cat("multilevel", as.character(packageVersion("multilevel")), "\n")
