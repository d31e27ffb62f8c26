# The reference for TestLeverageMatchesR (pkg/massmodel/domain_test.go):
# the leverage (hat value) of every training row of the penguin model, from
# R's own lm() and hatvalues(), independent of the Go code.
#
# Run from this directory with Debian's r-base-core (R 4.2.2):
#   Rscript leverage.R
# It writes leverage-r.csv (every training row, in the CSV's order) and
# leverage-r-max.txt (the largest), with 17 significant digits. CI does not
# need R: the committed output is the reference.

d <- read.csv("../../penguins/penguins.csv", na.strings = "NA")
# The model's complete cases: the rows with bill length, body mass and sex.
d <- d[!is.na(d$bill_length_mm) & !is.na(d$body_mass_g) & !is.na(d$sex) & d$sex != "", ]
d$species <- factor(d$species, levels = c("Adelie", "Chinstrap", "Gentoo"))
d$sex <- factor(d$sex, levels = c("female", "male"))
stopifnot(nrow(d) == 333)

fit <- lm(body_mass_g ~ bill_length_mm + species + sex, data = d)
# The design must be the Go model's: same terms, in the same order.
stopifnot(identical(names(coef(fit)),
  c("(Intercept)", "bill_length_mm", "speciesChinstrap", "speciesGentoo", "sexmale")))

h <- hatvalues(fit)
out <- data.frame(
  bill_length_mm = d$bill_length_mm,
  species = as.character(d$species),
  sex = as.character(d$sex),
  leverage = formatC(unname(h), digits = 17, format = "g")
)
write.csv(out, "leverage-r.csv", row.names = FALSE, quote = FALSE)
writeLines(formatC(max(h), digits = 17, format = "g"), "leverage-r-max.txt")
cat("rows", nrow(d), "max leverage", formatC(max(h), digits = 17, format = "g"),
  "at row", which.max(h), "\n")
