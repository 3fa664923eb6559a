-- notice: the line of text every display shows (hall.notice); empty text clears it.
redis.call('SET', P .. 'notice', A.text)
local seq = emit({type = 'hall.notice', text = A.text})
return done({seq = seq})
